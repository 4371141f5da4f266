// The Argo CD oracle (argocd_read.go) as its own module, built by tests/oracle.py.
//
// Pinned to the versions Argo CD v3.6.1 builds with (its go.mod, read from
// `go mod download -json github.com/argoproj/argo-cd/v3@v3.6.1`): sigs.k8s.io/yaml v1.6.0, and
// go.yaml.in/yaml/v2 v2.4.4, the go-yaml v2 that sigs.k8s.io/yaml v1.6.0 parses with, at the
// version Argo CD's build list selects (sigs.k8s.io/yaml itself asks only for v2.4.2).
module confighash/tests/oracle

go 1.22

require sigs.k8s.io/yaml v1.6.0

require go.yaml.in/yaml/v2 v2.4.4 // indirect
