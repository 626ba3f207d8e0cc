package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPricesCost(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  map[string]any
		wantErr  string
	}{
		{"a known model prints its cost and exits zero",
			[]string{"prices", "cost", "--provider", "openai", "--model", "gpt-4o", "--input", "1000", "--output", "500", "--at", "2025-01-01T00:00:00Z"},
			0, map[string]any{"model_id": "gpt-4o", "priced": true, "cost_nanos": 7500000.0, "cost_usd": "0.007500000", "price_from": nil, "tier_start": nil}, ""},
		{"an overlay's dated price is reported with its date",
			[]string{"prices", "cost", "--provider", "openai", "--model", "gpt-4o", "--input", "1000000", "--at", "2024-06-01T00:00:00Z", "--catalog", "../../pricing/testdata/overlay.yaml"},
			0, map[string]any{"price_from": "2024-05-13", "cost_nanos": 5e9, "cost_usd": "5.000000000"}, ""},
		{"a tiered request reports its tier",
			[]string{"prices", "cost", "--provider", "gcp.gemini", "--model", "gemini-2.5-pro", "--input", "200001", "--at", "2025-01-01T00:00:00Z"},
			0, map[string]any{"tier_start": 200000.0, "cost_nanos": 500002500.0}, ""},
		{"an unknown model still prints JSON but exits non-zero",
			[]string{"prices", "cost", "--provider", "openai", "--model", "gpt-none", "--input", "1"},
			1, map[string]any{"priced": false, "cost_nanos": 0.0, "model": "gpt-none"}, "no catalog entry"},
		{"an unknown flag is a usage error",
			[]string{"prices", "cost", "--tokens", "5"}, 2, nil, "flag provided but not defined: -tokens"},
		{"a malformed number is a usage error",
			[]string{"prices", "cost", "--provider", "openai", "--model", "gpt-4o", "--input", "many"}, 2, nil, "invalid value \"many\" for flag -input"},
		{"a malformed time is named",
			[]string{"prices", "cost", "--provider", "openai", "--model", "gpt-4o", "--at", "yesterday"}, 1, nil, "--at: want RFC 3339"},
		{"impossible usage is refused",
			[]string{"prices", "cost", "--provider", "openai", "--model", "gpt-4o", "--input", "1", "--cache-read", "2"}, 1, nil, "exceed input_tokens"},
		{"missing required flags are named",
			[]string{"prices", "cost", "--model", "gpt-4o"}, 1, nil, "--provider and --model are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.wantErr)
			}
			if tt.wantOut == nil {
				return
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out)
			}
			for k, v := range tt.wantOut {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

func TestPricesValidate(t *testing.T) {
	code, _, errOut := runCLI("prices", "validate", "--catalog", "../../pricing/testdata/invalid.json")
	if code != 1 || strings.Count(errOut, "invalid.json: provider broken") != 5 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	code, out, _ := runCLI("prices", "validate", "--catalog", "../../pricing/testdata/overlay.yaml")
	if code != 0 || !strings.Contains(out, "44 providers") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestScanEventsReportsEachPairAndNamesBadLines(t *testing.T) {
	var got []string
	err := scanEvents(strings.NewReader("{\"provider\":\"openai\",\"model\":\"gpt-9\"}\n{\"provider\":\"x\",\"model\":\"y\"}\n"), func(p, m string) { got = append(got, p+"/"+m) })
	if err != nil || strings.Join(got, ",") != "openai/gpt-9,x/y" {
		t.Fatalf("got %v, %v", got, err)
	}
	err = scanEvents(strings.NewReader("{}\nnot json\n"), func(string, string) {})
	if err == nil || !strings.Contains(err.Error(), "stdin line 2") {
		t.Fatalf("got %v", err)
	}
}
