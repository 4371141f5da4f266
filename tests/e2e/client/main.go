// confighash-e2e-client asks a real argocd-repo-server for manifests over its gRPC API, with
// Argo CD's own apiclient packages, the way the application controller does.
//
// It is built inside the Argo CD module (tests/e2e/build-argocd copies it to cmd/), so it uses
// exactly the ManifestRequest types of the Argo CD release under test.
//
//	confighash-e2e-client -addr 127.0.0.1:PORT -repo file:///r -path app -source '{"plugin":{}}' generate
//	confighash-e2e-client ... appdetails
//
// generate prints each manifest the repo-server returns as one JSON object per line, in its
// order. appdetails prints the RepoAppDetailsResponse as JSON. On a failed call it prints the
// repo-server's error on stderr and exits 1; a bad invocation exits 2.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	utiltls "github.com/argoproj/argo-cd/v3/util/tls"
	"google.golang.org/grpc/status"
)

func main() {
	addr := flag.String("addr", "", "repo-server address, host:port")
	repo := flag.String("repo", "", "git repository URL")
	revision := flag.String("revision", "HEAD", "git revision")
	path := flag.String("path", ".", "the application's path inside the repository")
	sourceJSON := flag.String("source", "{}", "ApplicationSource as JSON, without repoURL and path")
	app := flag.String("app", "confighash-e2e", "Application name")
	namespace := flag.String("namespace", "default", "destination namespace")
	kubeVersion := flag.String("kube-version", "", "destination cluster version (KUBE_VERSION)")
	apiVersions := flag.String("api-versions", "", "comma-separated API versions (KUBE_API_VERSIONS)")
	buildOptions := flag.String("kustomize-build-options", "", "argocd-cm kustomize.buildOptions")
	// The controller always sends argocd-cm's helm.valuesFileSchemes, which defaults to https,http
	// when unset (util/settings/settings.go, GetHelmSettings).
	valuesFileSchemes := flag.String("values-file-schemes", "https,http", "argocd-cm helm.valuesFileSchemes")
	timeout := flag.Int("timeout", 60, "request timeout in seconds (controller.repo.server.timeout.seconds)")
	flag.Parse()
	if flag.NArg() != 1 || *addr == "" || *repo == "" {
		fmt.Fprintln(os.Stderr, "usage: confighash-e2e-client -addr ADDR -repo URL [flags] generate|appdetails")
		os.Exit(2)
	}
	var source v1alpha1.ApplicationSource
	if err := json.Unmarshal([]byte(*sourceJSON), &source); err != nil {
		fmt.Fprintf(os.Stderr, "-source: %v\n", err)
		os.Exit(2)
	}
	source.RepoURL = *repo
	source.Path = *path
	var versions []string
	if *apiVersions != "" {
		versions = strings.Split(*apiVersions, ",")
	}

	// TLS as the controller talks to the repo-server by default: the server's self-signed
	// certificate, not verified (StrictValidation off, as in Argo CD's default install).
	closer, client, err := apiclient.NewRepoServerClientset(*addr, *timeout, utiltls.Configuration{}).NewRepoServerClient()
	if err != nil {
		fail(err)
	}
	defer closer.Close()
	repository := &v1alpha1.Repository{Repo: *repo}
	kustomizeOptions := &v1alpha1.KustomizeOptions{BuildOptions: *buildOptions}
	helmOptions := &v1alpha1.HelmOptions{}
	if *valuesFileSchemes != "" {
		helmOptions.ValuesFileSchemes = strings.Split(*valuesFileSchemes, ",")
	}
	ctx := context.Background()

	switch flag.Arg(0) {
	case "generate":
		response, err := client.GenerateManifest(ctx, &apiclient.ManifestRequest{
			Repo:               repository,
			Revision:           *revision,
			NoCache:            true,
			AppName:            *app,
			Namespace:          *namespace,
			ApplicationSource:  &source,
			KustomizeOptions:   kustomizeOptions,
			HelmOptions:        helmOptions,
			KubeVersion:        *kubeVersion,
			ApiVersions:        versions,
			ProjectName:        "default",
			ProjectSourceRepos: []string{"*"},
		})
		if err != nil {
			fail(err)
		}
		for _, manifest := range response.Manifests {
			fmt.Println(manifest)
		}
	case "appdetails":
		response, err := client.GetAppDetails(ctx, &apiclient.RepoServerAppDetailsQuery{
			Repo:             repository,
			Source:           &source,
			KustomizeOptions: kustomizeOptions,
			HelmOptions:      helmOptions,
			AppName:          *app,
			NoCache:          true,
		})
		if err != nil {
			fail(err)
		}
		out, err := json.Marshal(response)
		if err != nil {
			fail(err)
		}
		fmt.Println(string(out))
	default:
		fmt.Fprintf(os.Stderr, "unknown operation %q (generate, appdetails)\n", flag.Arg(0))
		os.Exit(2)
	}
}

// fail prints the repo-server's error message (the gRPC status text, as Argo CD shows it) and exits 1.
func fail(err error) {
	if s, ok := status.FromError(err); ok {
		fmt.Fprintln(os.Stderr, s.Message())
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(1)
}
