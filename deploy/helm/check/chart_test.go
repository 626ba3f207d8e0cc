package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

const chartDir = "../jevons"

func allEnabled(t *testing.T) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile("testdata/all-enabled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var valueSets = []struct {
	name   string
	values func(*testing.T) map[string]any
	// external ConfigMaps the values name but the chart does not render.
	external []string
}{
	{"default values", func(*testing.T) map[string]any { return map[string]any{} }, nil},
	{"every optional part enabled", allEnabled, nil},
}

func TestChartPassesHelmLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			if err := Lint(chartDir, vs.values(t)); err != nil {
				t.Fatalf("helm lint:\n%v", err)
			}
		})
	}
}

func TestChartRendersIntoStrictlyDecodedConsistentObjects(t *testing.T) {
	want := map[string][]string{
		"default values": {
			"ServiceAccount/jevons", "Service/jevons-aggregator", "Deployment/jevons-aggregator",
			"PodDisruptionBudget/jevons-aggregator", "Job/jevons-migrate",
		},
		"every optional part enabled": {
			"ServiceAccount/jevons", "ConfigMap/jevons-catalog", "ConfigMap/jevons-alert-rules",
			"Service/jevons-aggregator", "Service/jevons-ingest", "Deployment/jevons-aggregator",
			"Deployment/jevons-ingest", "Deployment/jevons-alert", "PodDisruptionBudget/jevons-aggregator",
			"PodDisruptionBudget/jevons-ingest", "Job/jevons-migrate",
		},
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs, err := Render(chartDir, vs.values(t))
			if err != nil {
				t.Fatalf("render:\n%v", err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Kind+"/"+o.Name)
			}
			slices.Sort(got)
			w := slices.Clone(want[vs.name])
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, w)
			}
			if err := CheckReferences(objs, vs.external...); err != nil {
				t.Errorf("references:\n%v", err)
			}
		})
	}
}

func find[T any](t *testing.T, objs []Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.Typed.(T); ok && o.Name == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %s rendered", zero, name)
	return zero
}

func envOf(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestDefaultAggregatorIsBoundedProbedAndSizedFromItsMemoryLimit(t *testing.T) {
	objs, err := Render(chartDir, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	d := find[*appsv1.Deployment](t, objs, "jevons-aggregator")
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	for _, arg := range []string{"aggregate", "--http=:9464", "--brokers=jevons-kafka-bootstrap:9092",
		"--topic=jevons.token-events", "--group=jevons-aggregate", "--clickhouse=clickhouse-jevons:9000",
		"--database=jevons", "--memory-limit-mib=384"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %q lack %q", c.Args, arg)
		}
	}
	for _, arg := range c.Args {
		if strings.HasPrefix(arg, "--cluster") || strings.HasPrefix(arg, "--catalog") {
			t.Errorf("default args carry %q", arg)
		}
	}
	if got := c.Resources.Limits.Memory().String(); got != "640Mi" {
		t.Errorf("memory limit %s, want 640Mi", got)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.StrVal != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on port http", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "http" {
		t.Errorf("liveness probe %+v, want GET /healthz on port http", p)
	}
	if c.Ports[0].ContainerPort != 9464 {
		t.Errorf("port %d, want 9464", c.Ports[0].ContainerPort)
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g <= 30 {
		t.Errorf("termination grace %ds is not above the 30s shutdown timeout", g)
	}
	if e := envOf(c, "JEVONS_CLICKHOUSE_USER"); e == nil || e.Value != "default" {
		t.Errorf("JEVONS_CLICKHOUSE_USER %+v, want default", e)
	}
	if e := envOf(c, "JEVONS_CLICKHOUSE_PASSWORD"); e != nil {
		t.Errorf("a password env without a Secret: %+v", e)
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, objs, "jevons-aggregator")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	job := find[*batchv1.Job](t, objs, "jevons-migrate")
	if got := job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
		t.Errorf("migrate hook %q", got)
	}
	if args := job.Spec.Template.Spec.Containers[0].Args; args[0] != "migrate" {
		t.Errorf("migrate args %q", args)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("migrate restart policy %s", job.Spec.Template.Spec.RestartPolicy)
	}
}

func TestEveryOptionalPartIsWiredToSecretsAndConfigMaps(t *testing.T) {
	objs, err := Render(chartDir, allEnabled(t))
	if err != nil {
		t.Fatal(err)
	}
	agg := find[*appsv1.Deployment](t, objs, "jevons-aggregator").Spec.Template.Spec.Containers[0]
	for _, arg := range []string{"--cluster=jevons", "--catalog=/etc/jevons/catalog/negotiated.yaml",
		"--reference-date=2025-01-01", "--dedup-horizon=20m", "--memory-limit-mib=614"} {
		if !slices.Contains(agg.Args, arg) {
			t.Errorf("aggregator args %q lack %q", agg.Args, arg)
		}
	}
	migrate := find[*batchv1.Job](t, objs, "jevons-migrate").Spec.Template.Spec.Containers[0]
	if !slices.Contains(migrate.Args, "--cluster=jevons") {
		t.Errorf("migrate args %q lack --cluster=jevons", migrate.Args)
	}
	ingest := find[*appsv1.Deployment](t, objs, "jevons-ingest").Spec.Template.Spec.Containers[0]
	alert := find[*appsv1.Deployment](t, objs, "jevons-alert").Spec.Template.Spec.Containers[0]
	fromSecret := func(name string, c corev1.Container, env, secret string) {
		t.Helper()
		e := envOf(c, env)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != "password" {
			t.Errorf("%s: %s is %+v, want Secret %s key password", name, env, e, secret)
		}
	}
	for name, c := range map[string]corev1.Container{"aggregator": agg, "migrate": migrate, "alert": alert} {
		fromSecret(name, c, "JEVONS_CLICKHOUSE_PASSWORD", "jevons-clickhouse")
		if e := envOf(c, "JEVONS_CLICKHOUSE_TLS_CA"); e == nil || e.Value != "/etc/jevons/clickhouse-ca/ca.crt" {
			t.Errorf("%s: JEVONS_CLICKHOUSE_TLS_CA %+v", name, e)
		}
	}
	for name, c := range map[string]corev1.Container{"aggregator": agg, "ingest": ingest, "alert (leader election)": alert} {
		fromSecret(name, c, "JEVONS_KAFKA_SASL_PASSWORD", "jevons")
		if e := envOf(c, "JEVONS_KAFKA_TLS_CA"); e == nil || e.Value != "/etc/jevons/kafka-ca/ca.crt" {
			t.Errorf("%s: JEVONS_KAFKA_TLS_CA %+v", name, e)
		}
	}
	if e := envOf(migrate, "JEVONS_KAFKA_SASL_PASSWORD"); e != nil {
		t.Errorf("migrate does not talk to Kafka but gets its password")
	}
	if e := envOf(ingest, "JEVONS_CLICKHOUSE_USER"); e != nil {
		t.Errorf("ingest does not talk to ClickHouse but gets its user")
	}
	if !slices.Contains(ingest.Args, "--keys=/etc/jevons/keys/keys.yaml") {
		t.Errorf("ingest args %q lack --keys", ingest.Args)
	}
	if e := envOf(alert, "JEVONS_BROKERS"); e == nil || e.Value != "jevons-kafka-bootstrap:9093" {
		t.Errorf("two alert replicas need brokers for their election: %+v", e)
	}
	svc := find[*corev1.Service](t, objs, "jevons-ingest")
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if ports["http"] != 8080 || ports["otlp-grpc"] != 4317 {
		t.Errorf("ingest Service ports %v, want http 8080 and otlp-grpc 4317", ports)
	}
	if !slices.Contains(alert.Args, "--rules=/etc/jevons/alert/rules.yaml") {
		t.Errorf("alert args %q", alert.Args)
	}
	rules := find[*corev1.ConfigMap](t, objs, "jevons-alert-rules")
	if !strings.Contains(rules.Data["rules.yaml"], "daily-budget") {
		t.Errorf("alert rules ConfigMap %v", rules.Data)
	}
	catalog := find[*corev1.ConfigMap](t, objs, "jevons-catalog")
	if !strings.Contains(catalog.Data["negotiated.yaml"], "acme-large") {
		t.Errorf("catalog ConfigMap %v", catalog.Data)
	}
}

func TestExistingConfigMapsAreMountedByName(t *testing.T) {
	vals := map[string]any{
		"pricing": map[string]any{"existingConfigMap": "prices", "files": []any{"a.yaml", "b.json"}},
		"alert":   map[string]any{"enabled": true, "existingConfigMap": "rules"},
	}
	objs, err := Render(chartDir, vals)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReferences(objs); err == nil || !strings.Contains(err.Error(), `ConfigMap "prices", which is not rendered`) {
		t.Errorf("references without the external ConfigMaps: %v", err)
	}
	if err := CheckReferences(objs, "prices", "rules"); err != nil {
		t.Errorf("references: %v", err)
	}
	alert := find[*appsv1.Deployment](t, objs, "jevons-alert")
	if alert.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || envOf(alert.Spec.Template.Spec.Containers[0], "JEVONS_BROKERS") != nil {
		t.Errorf("one alert replica: strategy %s, want Recreate and no Kafka", alert.Spec.Strategy.Type)
	}
	agg := find[*appsv1.Deployment](t, objs, "jevons-aggregator").Spec.Template.Spec.Containers[0]
	for _, arg := range []string{"--catalog=/etc/jevons/catalog/a.yaml", "--catalog=/etc/jevons/catalog/b.json"} {
		if !slices.Contains(agg.Args, arg) {
			t.Errorf("args %q lack %q", agg.Args, arg)
		}
	}
}

func TestRenderingFailsOnValuesThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"more aggregator replicas than partitions",
			map[string]any{"aggregator": map[string]any{"replicas": 13}, "kafka": map[string]any{"partitions": 12}},
			"aggregator.replicas (13) exceeds kafka.partitions (12)"},
		{"no partitions",
			map[string]any{"kafka": map[string]any{"partitions": 0}},
			"/kafka/partitions"},
		{"a memory limit in an unknown unit",
			map[string]any{"aggregator": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1.5Gi"}}}},
			`memory quantity "1.5Gi"`},
		{"alerting without rules",
			map[string]any{"alert": map[string]any{"enabled": true}},
			"alert.enabled needs rules"},
		{"a misspelt value (values.schema.json)",
			map[string]any{"aggregator": map[string]any{"replica": 5}},
			"additional properties 'replica' not allowed"},
		{"a port out of range (values.schema.json)",
			map[string]any{"aggregator": map[string]any{"httpPort": 70000}},
			"httpPort"},
		{"SASL without a Secret",
			map[string]any{"kafka": map[string]any{"sasl": map[string]any{"enabled": true}}},
			"kafka.sasl.enabled needs kafka.sasl.existingSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(chartDir, tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMemoryLimitFlagFollowsTheContainerLimit(t *testing.T) {
	for _, tc := range []struct {
		limit any
		pct   int
		want  string
	}{
		{"640Mi", 60, "--memory-limit-mib=384"},
		{"1Gi", 75, "--memory-limit-mib=768"},
		{"1000M", 60, "--memory-limit-mib=571"}, // 1e9 B = 953 MiB
		{"671088640", 60, "--memory-limit-mib=384"},
		{float64(671088640), 60, "--memory-limit-mib=384"}, // a bare number in a values file
	} {
		vals := map[string]any{"aggregator": map[string]any{
			"memoryLimitPercent": tc.pct,
			"resources":          map[string]any{"limits": map[string]any{"memory": tc.limit}},
		}}
		objs, err := Render(chartDir, vals)
		if err != nil {
			t.Fatalf("%v: %v", tc.limit, err)
		}
		args := find[*appsv1.Deployment](t, objs, "jevons-aggregator").Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, tc.want) {
			t.Errorf("limit %v at %d%%: args %q lack %q", tc.limit, tc.pct, args, tc.want)
		}
	}
	objs, err := Render(chartDir, map[string]any{"aggregator": map[string]any{"memoryLimitMiB": 300}})
	if err != nil {
		t.Fatal(err)
	}
	if args := find[*appsv1.Deployment](t, objs, "jevons-aggregator").Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--memory-limit-mib=300") {
		t.Errorf("override: args %q", args)
	}
}

// The check must fail on a broken chart: a field the API does not have is an error, in a
// document decoded alone and in a chart rendered whole.
func TestStrictDecodingRejectsAnUnknownField(t *testing.T) {
	doc := []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  replica: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i}]
`)
	if _, err := DecodeStrict("doc", doc); err == nil || !strings.Contains(err.Error(), `unknown field "spec.replica"`) {
		t.Fatalf("decode error %v, want unknown field spec.replica", err)
	}
	fixed := strings.Replace(string(doc), "replica:", "replicas:", 1)
	if _, err := DecodeStrict("doc", []byte(fixed)); err != nil {
		t.Fatalf("the corrected document fails: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "jevons")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	broken := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatas:\n  a: b\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "typo.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Render(dir, map[string]any{})
	if err == nil || !strings.Contains(err.Error(), "typo.yaml") || !strings.Contains(err.Error(), `unknown field "datas"`) {
		t.Fatalf("render of a chart with a misspelt field: %v", err)
	}
}
