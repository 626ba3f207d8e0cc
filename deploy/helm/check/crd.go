package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// CRDs holds the OpenAPI v3 schema of every served version of a set of
// CustomResourceDefinitions.
type CRDs struct {
	versions map[schema.GroupVersionKind]crdVersion
}

type crdVersion struct {
	crd        string
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no CEL rules
}

// LoadCRDs reads every *.yaml file in dir as a CustomResourceDefinition (apiextensions.k8s.io/v1).
func LoadCRDs(dir string) (*CRDs, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no CRD files in %s", dir)
	}
	c := &CRDs{versions: map[schema.GroupVersionKind]crdVersion{}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var crd apiextv1.CustomResourceDefinition
		// Not strict: the Altinity CRDs override keys brought in by YAML merge keys (<<),
		// which YAML allows and a strict decoder reports as duplicates.
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			var internal apiextensions.JSONSchemaProps
			if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				return nil, fmt.Errorf("%s %s: convert schema: %w", crd.Name, v.Name, err)
			}
			s, err := structuralschema.NewStructural(&internal)
			if err != nil {
				return nil, fmt.Errorf("%s %s: not a structural schema: %w", crd.Name, v.Name, err)
			}
			val, _, err := validation.NewSchemaValidator(&internal)
			if err != nil {
				return nil, fmt.Errorf("%s %s: schema validator: %w", crd.Name, v.Name, err)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			c.versions[gvk] = crdVersion{crd: crd.Name, structural: s, validator: val,
				cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
		}
	}
	return c, nil
}

// Kinds lists the group/version/kinds known, sorted.
func (c *CRDs) Kinds() []string {
	var out []string
	for gvk := range c.versions {
		out = append(out, gvk.String())
	}
	sort.Strings(out)
	return out
}

// Known reports whether obj's apiVersion and kind are one of the loaded CRDs' served versions.
func (c *CRDs) Known(obj map[string]any) bool {
	_, ok := c.versions[gvkOf(obj)]
	return ok
}

// Validate checks one custom resource the way the API server does on create: metadata
// decodes strictly into ObjectMeta with a valid name, no field is unknown to the schema (the
// server would prune it, or reject it under strict field validation), the schema's types,
// enums, bounds and required fields hold, and so do its CEL rules (x-kubernetes-validations),
// run by the API server's own CEL validator. Pod, volume claim and service specs that the Altinity CRDs leave
// open (x-kubernetes-preserve-unknown-fields) are decoded strictly into their core/v1 types.
func (c *CRDs) Validate(obj map[string]any) error {
	gvk := gvkOf(obj)
	v, ok := c.versions[gvk]
	if !ok {
		return fmt.Errorf("no CRD for %s", gvk)
	}
	var errs []error
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		errs = append(errs, errors.New("metadata: missing"))
	} else {
		var meta metav1.ObjectMeta
		if err := strictJSON(md, &meta); err != nil {
			errs = append(errs, fmt.Errorf("metadata: %w", err))
		}
		for _, msg := range utilvalidation.IsDNS1123Subdomain(meta.Name) {
			errs = append(errs, fmt.Errorf("metadata.name %q: %s", meta.Name, msg))
		}
	}
	copied, err := deepCopy(obj)
	if err != nil {
		return err
	}
	unknown := pruning.PruneWithOptions(copied, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		errs = append(errs, fmt.Errorf("unknown field %q", path))
	}
	for _, fe := range validation.ValidateCustomResource(field.NewPath(""), obj, v.validator) {
		errs = append(errs, errors.New(strings.TrimPrefix(fe.Error(), ".")))
	}
	if v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), field.NewPath(""), v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		for _, fe := range celErrs {
			errs = append(errs, errors.New(strings.TrimPrefix(fe.Error(), ".")))
		}
	}
	errs = append(errs, validateEmbeddedSpecs(obj)...)
	if len(errs) > 0 {
		return fmt.Errorf("%s %q (%s): %w", gvk.Kind, nameOf(obj), v.crd, errors.Join(errs...))
	}
	return nil
}

// embedded lists where the Altinity CRDs hold core/v1 specs without a schema of their own.
var embedded = []struct {
	list   string
	target func() any
}{
	{"podTemplates", func() any { return &corev1.PodSpec{} }},
	{"volumeClaimTemplates", func() any { return &corev1.PersistentVolumeClaimSpec{} }},
	{"serviceTemplates", func() any { return &corev1.ServiceSpec{} }},
}

func validateEmbeddedSpecs(obj map[string]any) []error {
	spec, _ := obj["spec"].(map[string]any)
	templates, _ := spec["templates"].(map[string]any)
	var errs []error
	for _, e := range embedded {
		items, _ := templates[e.list].([]any)
		for i, item := range items {
			m, _ := item.(map[string]any)
			if s, ok := m["spec"]; ok {
				if err := strictJSON(s, e.target()); err != nil {
					errs = append(errs, fmt.Errorf("spec.templates.%s[%d].spec: %w", e.list, i, err))
				}
			}
		}
	}
	return errs
}

// HasCEL reports whether the CRD version of obj carries CEL rules.
func (c *CRDs) HasCEL(obj map[string]any) bool { return c.versions[gvkOf(obj)].cel != nil }

// strictJSON decodes v (data from YAML) into out, failing on unknown or duplicate fields
// and on case-insensitive matches, as the API server's strict decoding does.
func strictJSON(v any, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, out)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func deepCopy(obj map[string]any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return DecodeCustom(data)
}

// DecodeCustom decodes one JSON document as the API server holds a custom resource:
// whole numbers as int64, others as float64.
func DecodeCustom(data []byte) (map[string]any, error) {
	out := map[string]any{}
	if err := utiljson.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func gvkOf(obj map[string]any) schema.GroupVersionKind {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

func nameOf(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	return name
}
