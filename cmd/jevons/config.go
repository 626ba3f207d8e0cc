package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// layer fills every flag not given on the command line from its
// environment variable (JEVONS_ + the flag name in upper case with '_' for
// '-') or else from the YAML config file (keys are flag names). Precedence:
// flag, environment, file, default.
func layer(fs *flag.FlagSet, configFile string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string]any{}
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("parse config %s: %w", configFile, err)
		}
	}
	var errs []string
	for key := range file {
		if fs.Lookup(key) == nil {
			errs = append(errs, fmt.Sprintf("%s: unknown key %q", configFile, key))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		env := "JEVONS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		var values []string
		if v, ok := os.LookupEnv(env); ok {
			values = []string{v}
			if _, repeatable := f.Value.(*listFlag); repeatable {
				values = strings.Split(v, string(os.PathListSeparator))
			}
		} else if v, ok := file[f.Name]; ok {
			switch v := v.(type) {
			case []any:
				if _, repeatable := f.Value.(*listFlag); repeatable {
					for _, x := range v {
						values = append(values, fmt.Sprint(x))
					}
				} else {
					parts := make([]string, len(v))
					for i, x := range v {
						parts[i] = fmt.Sprint(x)
					}
					values = []string{strings.Join(parts, ",")}
				}
			default:
				values = []string{fmt.Sprint(v)}
			}
		}
		for _, v := range values {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s (from %s or %s): %v", f.Name, env, configFile, err))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}
