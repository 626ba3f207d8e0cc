// Package check lints and renders the Jevons Helm chart with Helm's own Go packages, then
// decodes every rendered object strictly into its Kubernetes API type, so a misspelt or
// misplaced field fails here rather than being dropped silently by a cluster. It also
// validates the example custom resources under deploy/k8s against the OpenAPI v3 schemas
// of the operators' CustomResourceDefinitions (testdata/crds).
//
// It is its own Go module so that Jevons itself does not depend on Helm and Kubernetes.
package check

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Object is one rendered or example document, decoded.
type Object struct {
	Source string         // template or file it came from
	Kind   string         // e.g. "Deployment"
	Name   string         // metadata.name
	Typed  runtime.Object // the k8s.io/api type, nil for custom resources
	Raw    map[string]any // the document as data
}

// Lint runs Helm's chart linter with the given values and returns every message of
// severity warning or error.
func Lint(chartDir string, values map[string]any) error {
	l := lint.All(chartDir, values, "jevons", false)
	var errs []error
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, m)
		}
	}
	return errors.Join(errs...)
}

// Render loads the chart, renders it as `helm template` would for a fresh install (hooks
// included) and decodes every document strictly.
func Render(chartDir string, values map[string]any) ([]Object, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	opts := chartutil.ReleaseOptions{Name: "jevons", Namespace: "jevons", Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []Object
	var errs []error
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		docs := releaseutil.SplitManifests(files[name])
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			doc := docs[k]
			if strings.TrimSpace(doc) == "" {
				continue
			}
			obj, err := DecodeStrict(name, []byte(doc))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			objs = append(objs, obj)
		}
	}
	return objs, errors.Join(errs...)
}

var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// DecodeStrict decodes one YAML document into its registered k8s.io/api type. Unknown or
// duplicate fields, an unregistered kind or a malformed value are errors naming source.
func DecodeStrict(source string, doc []byte) (Object, error) {
	raw := map[string]any{}
	if err := yaml.Unmarshal(doc, &raw); err != nil {
		return Object{}, fmt.Errorf("%s: not YAML: %w", source, err)
	}
	typed, gvk, err := strict.Decode(doc, nil, nil)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", source, err)
	}
	o := Object{Source: source, Kind: gvk.Kind, Typed: typed, Raw: raw}
	if md, ok := raw["metadata"].(map[string]any); ok {
		o.Name, _ = md["name"].(string)
	}
	if o.Name == "" {
		return o, fmt.Errorf("%s: %s without metadata.name", source, gvk.Kind)
	}
	return o, nil
}

// SplitYAML splits a multi-document YAML file at lines that are exactly "---", dropping
// documents that hold only comments.
func SplitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur [][]byte
	content := false
	flush := func() {
		if content {
			docs = append(docs, bytes.Join(cur, []byte("\n")))
		}
		cur, content = nil, false
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if string(bytes.TrimRight(line, " \r")) == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			content = true
		}
	}
	flush()
	return docs
}
