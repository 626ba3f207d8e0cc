package check

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CheckReferences checks what strict decoding cannot: that the rendered objects refer to
// one another consistently. Deployments select their own pods; probes and Service target
// ports name container ports that exist; every volume mount names a pod volume; every
// Service and PodDisruptionBudget selects the pods of some Deployment; every ConfigMap a
// volume reads is rendered too, unless listed in external.
func CheckReferences(objs []Object, external ...string) error {
	var errs []error
	configMaps := map[string]bool{}
	for _, n := range external {
		configMaps[n] = true
	}
	var pods []podOf
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *corev1.ConfigMap:
			configMaps[t.Name] = true
		case *appsv1.Deployment:
			sel := t.Spec.Selector
			if sel == nil || len(sel.MatchLabels) == 0 {
				errs = append(errs, fmt.Errorf("Deployment %s: no selector", t.Name))
			} else if !labels.SelectorFromSet(sel.MatchLabels).Matches(labels.Set(t.Spec.Template.Labels)) {
				errs = append(errs, fmt.Errorf("Deployment %s: selector %v does not match its pod labels %v", t.Name, sel.MatchLabels, t.Spec.Template.Labels))
			}
			pods = append(pods, podOf{"Deployment " + t.Name, t.Spec.Template})
		case *batchv1.Job:
			pods = append(pods, podOf{"Job " + t.Name, t.Spec.Template})
		}
	}
	for _, p := range pods {
		errs = append(errs, checkPod(p, configMaps)...)
	}
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *corev1.Service:
			p, err := selected(pods, t.Spec.Selector)
			if err != nil {
				errs = append(errs, fmt.Errorf("Service %s: %w", t.Name, err))
				continue
			}
			for _, port := range t.Spec.Ports {
				if port.TargetPort.Type == intstr.String && !hasPort(p.tmpl.Spec, port.TargetPort.StrVal) {
					errs = append(errs, fmt.Errorf("Service %s: targetPort %q is no container port of %s", t.Name, port.TargetPort.StrVal, p.name))
				}
			}
		case *policyv1.PodDisruptionBudget:
			if t.Spec.Selector == nil {
				errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: no selector", t.Name))
				continue
			}
			if _, err := selected(pods, t.Spec.Selector.MatchLabels); err != nil {
				errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: %w", t.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

type podOf struct {
	name string
	tmpl corev1.PodTemplateSpec
}

func selected(pods []podOf, sel map[string]string) (podOf, error) {
	if len(sel) == 0 {
		return podOf{}, errors.New("empty selector")
	}
	for _, p := range pods {
		if labels.SelectorFromSet(sel).Matches(labels.Set(p.tmpl.Labels)) {
			return p, nil
		}
	}
	return podOf{}, fmt.Errorf("selector %v matches no rendered pod template", sel)
}

func checkPod(p podOf, configMaps map[string]bool) []error {
	var errs []error
	volumes := map[string]bool{}
	for _, v := range p.tmpl.Spec.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil && !configMaps[v.ConfigMap.Name] {
			errs = append(errs, fmt.Errorf("%s: volume %s reads ConfigMap %q, which is not rendered", p.name, v.Name, v.ConfigMap.Name))
		}
	}
	mounted := map[string]bool{}
	for _, c := range p.tmpl.Spec.Containers {
		if c.Image == "" {
			errs = append(errs, fmt.Errorf("%s: container %s has no image", p.name, c.Name))
		}
		for _, m := range c.VolumeMounts {
			mounted[m.Name] = true
			if !volumes[m.Name] {
				errs = append(errs, fmt.Errorf("%s: container %s mounts %q, which is no volume of the pod", p.name, c.Name, m.Name))
			}
		}
		for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if pr != nil && pr.HTTPGet != nil && pr.HTTPGet.Port.Type == intstr.String && !hasPort(p.tmpl.Spec, pr.HTTPGet.Port.StrVal) {
				errs = append(errs, fmt.Errorf("%s: container %s probes port %q, which it does not declare", p.name, c.Name, pr.HTTPGet.Port.StrVal))
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && (e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "") {
				errs = append(errs, fmt.Errorf("%s: env %s reads a Secret without a name or key", p.name, e.Name))
			}
		}
	}
	for name := range volumes {
		if !mounted[name] {
			errs = append(errs, fmt.Errorf("%s: volume %s is mounted by no container", p.name, name))
		}
	}
	return errs
}

func hasPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}
