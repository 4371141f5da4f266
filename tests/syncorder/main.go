// gitops-engine v3.6.1 reads sync annotations: syncwaves.Wave, hook.IsHook, hook.Skip, hook.Types,
// hook.DeletePolicies on one object per input map. Built and run by tests/test_order_oracle.py.
package main

import (
	"encoding/json"
	"os"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/hook"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/syncwaves"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type out struct {
	Wave     int      `json:"wave"`
	IsHook   bool     `json:"isHook"`
	Skip     bool     `json:"skip"`
	Types    []string `json:"types"`
	Policies []string `json:"policies"`
}

func main() {
	var in []map[string]string
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	res := []out{}
	for _, a := range in {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
		obj.SetName("x")
		obj.SetAnnotations(a)
		o := out{Wave: syncwaves.Wave(obj), IsHook: hook.IsHook(obj), Skip: hook.Skip(obj), Types: []string{}, Policies: []string{}}
		for _, t := range hook.Types(obj) {
			o.Types = append(o.Types, string(t))
		}
		for _, p := range hook.DeletePolicies(obj) {
			o.Policies = append(o.Policies, string(p))
		}
		res = append(res, o)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}
