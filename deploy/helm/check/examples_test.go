package check

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const examplesDir = "../../k8s"

type example struct {
	file string
	obj  map[string]any
	doc  []byte
}

func loadExamples(t *testing.T) []example {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples in %s: %v", examplesDir, err)
	}
	var out []example
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range SplitYAML(data) {
			j, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				t.Fatalf("%s document %d: %v", p, i, err)
			}
			obj, err := DecodeCustom(j)
			if err != nil {
				t.Fatalf("%s document %d: %v", p, i, err)
			}
			out = append(out, example{file: filepath.Base(p), obj: obj, doc: doc})
		}
	}
	return out
}

func loadCRDs(t *testing.T) *CRDs {
	t.Helper()
	crds, err := LoadCRDs("testdata/crds")
	if err != nil {
		t.Fatal(err)
	}
	return crds
}

func TestExampleManifestsValidateAgainstTheirSchemas(t *testing.T) {
	crds := loadCRDs(t)
	var kinds []string
	for _, ex := range loadExamples(t) {
		kind := fmt.Sprint(ex.obj["kind"])
		kinds = append(kinds, kind+"/"+nameOf(ex.obj))
		t.Run(ex.file+"/"+kind+"/"+nameOf(ex.obj), func(t *testing.T) {
			if crds.Known(ex.obj) {
				if err := crds.Validate(ex.obj); err != nil {
					t.Fatal(err)
				}
				return
			}
			if _, err := DecodeStrict(ex.file, ex.doc); err != nil {
				t.Fatalf("neither a known custom resource (%s) nor a core type: %v", strings.Join(crds.Kinds(), ", "), err)
			}
		})
	}
	slices.Sort(kinds)
	want := []string{
		"ClickHouseInstallation/jevons", "ClickHouseKeeperInstallation/jevons", "Kafka/jevons",
		"KafkaNodePool/broker", "KafkaNodePool/controller", "KafkaTopic/jevons-token-events",
		"KafkaTopic/jevons-token-events-dlq", "KafkaUser/jevons", "Secret/jevons-clickhouse",
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("examples\n got %v\nwant %v", kinds, want)
	}
}

func dig(obj any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := obj.(map[string]any)
			obj = m[k]
		case int:
			l, _ := obj.([]any)
			if k >= len(l) {
				return nil
			}
			obj = l[k]
		}
	}
	return obj
}

// The examples and the chart describe one deployment: the topics must be replicated as the
// fault tolerance needs and partitioned as the chart's aggregator bound assumes.
func TestExamplesAgreeWithTheChartAndWithEachOther(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart map[string]any
	if err := yaml.Unmarshal(values, &chart); err != nil {
		t.Fatal(err)
	}
	partitions := dig(chart, "kafka", "partitions")
	topic := dig(chart, "kafka", "topic")
	topics := map[string]map[string]any{}
	var chi, chk, kafka map[string]any
	for _, ex := range loadExamples(t) {
		switch ex.obj["kind"] {
		case "KafkaTopic":
			topics[fmt.Sprint(dig(ex.obj, "spec", "topicName"))] = ex.obj
		case "ClickHouseInstallation":
			chi = ex.obj
		case "ClickHouseKeeperInstallation":
			chk = ex.obj
		case "Kafka":
			kafka = ex.obj
		}
	}
	for _, name := range []string{fmt.Sprint(topic), fmt.Sprint(topic) + ".dlq"} {
		tp := topics[name]
		if tp == nil {
			t.Errorf("no KafkaTopic for %s", name)
			continue
		}
		if got := fmt.Sprint(dig(tp, "spec", "partitions")); got != fmt.Sprint(partitions) {
			t.Errorf("%s: %s partitions, the chart's kafka.partitions is %v", name, got, partitions)
		}
		if got := fmt.Sprint(dig(tp, "spec", "replicas")); got != "3" {
			t.Errorf("%s: replicas %s, want 3", name, got)
		}
		if got := fmt.Sprint(dig(tp, "spec", "config", "min.insync.replicas")); got != "2" {
			t.Errorf("%s: min.insync.replicas %s, want 2", name, got)
		}
	}
	if got := fmt.Sprint(dig(kafka, "spec", "kafka", "config", "min.insync.replicas")); got != "2" {
		t.Errorf("Kafka min.insync.replicas %s, want 2", got)
	}
	layout := dig(chi, "spec", "configuration", "clusters", 0, "layout")
	if fmt.Sprint(dig(layout, "shardsCount")) != "2" || fmt.Sprint(dig(layout, "replicasCount")) != "2" {
		t.Errorf("ClickHouse layout %v, want 2 shards x 2 replicas", layout)
	}
	keeperHost := fmt.Sprint(dig(chi, "spec", "configuration", "zookeeper", "nodes", 0, "host"))
	if want := "keeper-" + nameOf(chk); keeperHost != want {
		t.Errorf("ClickHouse uses Keeper at %s, the Keeper installation's Service is %s", keeperHost, want)
	}
	if addr := fmt.Sprint(dig(chart, "clickhouse", "addr")); addr != "clickhouse-"+nameOf(chi)+":9000" {
		t.Errorf("chart's clickhouse.addr %s is not the installation's Service clickhouse-%s:9000", addr, nameOf(chi))
	}
	if brokers := fmt.Sprint(dig(chart, "kafka", "brokers")); brokers != nameOf(kafka)+"-kafka-bootstrap:9092" {
		t.Errorf("chart's kafka.brokers %s is not the cluster's bootstrap Service", brokers)
	}
}

func TestSchemaValidationRejectsBrokenResources(t *testing.T) {
	crds := loadCRDs(t)
	byName := map[string]example{}
	for _, ex := range loadExamples(t) {
		byName[fmt.Sprint(ex.obj["kind"])+"/"+nameOf(ex.obj)] = ex
	}
	for _, tc := range []struct {
		name   string
		target string
		mutate func(obj map[string]any)
		want   string
	}{
		{"an unknown field", "Kafka/jevons",
			func(o map[string]any) { dig(o, "spec", "kafka").(map[string]any)["replicaz"] = int64(3) },
			`unknown field "spec.kafka.replicaz"`},
		{"a string where the schema wants an integer", "KafkaTopic/jevons-token-events",
			func(o map[string]any) { dig(o, "spec").(map[string]any)["partitions"] = "twelve" },
			"spec.partitions"},
		{"a value outside an enum", "KafkaNodePool/broker",
			func(o map[string]any) { dig(o, "spec").(map[string]any)["roles"] = []any{"bookkeeper"} },
			"bookkeeper"},
		{"a missing required field", "Kafka/jevons",
			func(o map[string]any) { delete(dig(o, "spec", "kafka").(map[string]any), "listeners") },
			"spec.kafka.listeners"},
		{"an unknown field inside a ClickHouse pod template", "ClickHouseInstallation/jevons",
			func(o map[string]any) {
				dig(o, "spec", "templates", "podTemplates", 0, "spec", "containers", 0).(map[string]any)["imagePullPolize"] = "Always"
			},
			`unknown field "containers[0].imagePullPolize"`},
		{"an unknown field in a ClickHouse cluster layout", "ClickHouseInstallation/jevons",
			func(o map[string]any) {
				dig(o, "spec", "configuration", "clusters", 0, "layout").(map[string]any)["shardCount"] = int64(2)
			},
			`unknown field "spec.configuration.clusters[0].layout.shardCount"`},
		{"an unknown field in a Keeper installation", "ClickHouseKeeperInstallation/jevons",
			func(o map[string]any) {
				dig(o, "spec", "configuration").(map[string]any)["zookeeper"] = map[string]any{}
			},
			`unknown field "spec.configuration.zookeeper"`},
		{"a CEL rule broken (x-kubernetes-validations)", "KafkaUser/jevons",
			func(o map[string]any) { dig(o, "spec", "authentication").(map[string]any)["validityDays"] = int64(30) },
			"can be configured only with 'type: tls'"},
		{"another CEL rule broken", "Kafka/jevons",
			func(o map[string]any) { dig(o, "spec", "kafka", "rack").(map[string]any)["topologyKey"] = "" },
			"topologyKey property is required"},
		{"an unknown field in metadata", "KafkaUser/jevons",
			func(o map[string]any) { o["metadata"].(map[string]any)["label"] = map[string]any{"a": "b"} },
			`unknown field "label"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, ok := byName[tc.target]
			if !ok {
				t.Fatalf("no example %s", tc.target)
			}
			if err := crds.Validate(ex.obj); err != nil {
				t.Fatalf("the example itself fails: %v", err)
			}
			obj, err := deepCopy(ex.obj)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(obj)
			err = crds.Validate(obj)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validation error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
