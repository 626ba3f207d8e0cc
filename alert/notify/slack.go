package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Slack posts to a Slack incoming webhook: a plain `text` (what the phone's
// notification shows) and Block Kit blocks: a header, the figures as a
// two-column section, the verdict and the labels.
type Slack struct {
	URL    string
	Client *http.Client
}

// Notify makes one delivery attempt.
func (s *Slack) Notify(ctx context.Context, n Notification) error {
	body, err := json.Marshal(SlackMessage(n))
	if err != nil {
		return Permanent(fmt.Errorf("encode slack message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("slack request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	return post(s.Client, req)
}

// SlackMessage renders n as an incoming-webhook payload.
func SlackMessage(n Notification) map[string]any {
	icon := ":rotating_light:"
	if n.State == Resolved {
		icon = ":white_check_mark:"
	}
	title := fmt.Sprintf("%s %s: %s", icon, strings.ToUpper(n.State), n.Rule)
	summary := n.Annotations["summary"]
	text := title
	if summary != "" {
		text += " - " + summary
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(title, 150), "emoji": true}},
	}
	if summary != "" {
		blocks = append(blocks, section(clip(summary, 3000)))
	}
	if fields := figureFields(n.Figures); len(fields) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	if n.Verdict != "" {
		blocks = append(blocks, section("*Verdict:* "+clip(n.Verdict, 2900)))
	}
	var labels []string
	for _, k := range sortedKeys(n.Labels) {
		labels = append(labels, fmt.Sprintf("%s=%s", k, n.Labels[k]))
	}
	ctx := fmt.Sprintf("%s · since %s", n.Kind, n.StartedAt.UTC().Format("2006-01-02 15:04:05Z"))
	if len(labels) > 0 {
		ctx += " · " + strings.Join(labels, " ")
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": clip(ctx, 3000)}}})
	return map[string]any{"text": clip(text, 3000), "blocks": blocks}
}

func section(md string) map[string]any {
	return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": md}}
}

// figureFields renders up to 10 figures (Slack's limit per section).
func figureFields(figs map[string]any) []any {
	var out []any
	for _, k := range sortedKeys(figs) {
		if len(out) == 10 {
			break
		}
		out = append(out, map[string]any{"type": "mrkdwn", "text": clip(fmt.Sprintf("*%s*\n%v", k, FormatFigure(figs[k])), 2000)})
	}
	return out
}

// FormatFigure renders a figure for people: floats with at most 4
// decimals, lists joined by commas.
func FormatFigure(v any) string {
	switch x := v.(type) {
	case float64:
		s := fmt.Sprintf("%.4f", x)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		return s
	case []string:
		return strings.Join(x, ", ")
	default:
		return fmt.Sprint(v)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
