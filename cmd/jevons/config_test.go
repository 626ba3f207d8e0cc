package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLayerPrecedenceFlagThenEnvThenFile(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "jevons.yaml")
	if err := os.WriteFile(cfgFile, []byte("topic: from-file\ngroup: from-file\nwindow: 5m\nbrokers: [a:1, b:2]\ncatalog: [x.yaml, y.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JEVONS_GROUP", "from-env")
	fs := newFlagSet("test", os.Stderr)
	topic := fs.String("topic", "default", "")
	group := fs.String("group", "default", "")
	window := fs.Duration("window", time.Minute, "")
	brokers := fs.String("brokers", "", "")
	var catalogs listFlag
	fs.Var(&catalogs, "catalog", "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--topic", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := layer(fs, cfgFile); err != nil {
		t.Fatal(err)
	}
	if *topic != "from-flag" || *group != "from-env" || *window != 5*time.Minute || *brokers != "a:1,b:2" || strings.Join(catalogs, ",") != "x.yaml,y.yaml" {
		t.Fatalf("topic %q group %q window %v brokers %q catalogs %v", *topic, *group, *window, *brokers, catalogs)
	}
}

func TestLayerNamesUnknownKeysAndBadValues(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "jevons.yaml")
	if err := os.WriteFile(cfgFile, []byte("topik: x\nwindow: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet("test", os.Stderr)
	fs.Duration("window", time.Minute, "")
	err := layer(fs, cfgFile)
	if err == nil || !strings.Contains(err.Error(), `unknown key "topik"`) || !strings.Contains(err.Error(), "window") {
		t.Fatalf("got %v", err)
	}
}
