package providers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// OpenAI usage export: the JSON pages of the Usage API's completions
// endpoint (GET /v1/organization/usage/completions?bucket_width=1d&
// group_by=model, optionally also project_id, api_key_id, user_id, batch),
// one page object or several in a row:
//
//	{"object":"page","data":[{"object":"bucket","start_time":1730419200,"end_time":1730505600,
//	  "results":[{"object":"organization.usage.completions.result","input_tokens":1000,
//	  "output_tokens":500,"input_cached_tokens":800,"num_model_requests":5,"model":"gpt-4o-mini",
//	  "project_id":null,"api_key_id":null,"user_id":null,"batch":false}]}],"has_more":false}
type openaiPage struct {
	Object   string         `json:"object"`
	Data     []openaiBucket `json:"data"`
	HasMore  bool           `json:"has_more"`
	NextPage *string        `json:"next_page"`
}

type openaiBucket struct {
	Object    string         `json:"object"`
	StartTime int64          `json:"start_time"`
	EndTime   int64          `json:"end_time"`
	Results   []openaiResult `json:"results"`
}

type openaiResult struct {
	Object            string  `json:"object"`
	InputAudioTokens  int64   `json:"input_audio_tokens"`
	OutputAudioTokens int64   `json:"output_audio_tokens"`
	InputTokens       int64   `json:"input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	InputCachedTokens int64   `json:"input_cached_tokens"`
	Requests          int64   `json:"num_model_requests"`
	Model             *string `json:"model"`
	ProjectID         *string `json:"project_id"`
	APIKeyID          *string `json:"api_key_id"`
	UserID            *string `json:"user_id"`
	Batch             *bool   `json:"batch"`
}

// OpenAIOptions say whose usage an export is.
type OpenAIOptions struct {
	Tenant string // required: the Jevons tenant the organisation's usage belongs to
	App    string // app of results without a project_id; a project_id becomes the app
}

// MaxRequestsPerResult bounds how many events one result becomes.
const MaxRequestsPerResult = 10_000_000

// OpenAIUsage maps an export to events. A result of N requests becomes N
// events (the schema counts one event per request) that split its tokens
// exactly, the remainders going to the first ones, spread evenly over the
// bucket. Every problem is returned, each naming its page, bucket and
// result; on error no events are returned.
func OpenAIUsage(r io.Reader, opt OpenAIOptions) ([]schemas.Event, error) {
	if opt.Tenant == "" {
		return nil, errors.New("openai usage: a tenant is required")
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var out []schemas.Event
	var errs []error
	for page := 1; ; page++ {
		var p openaiPage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			if page == 1 {
				return nil, errors.New("openai usage: empty input")
			}
			break
		} else if err != nil {
			return nil, fmt.Errorf("openai usage: page %d: %w", page, err)
		}
		if p.Object != "page" {
			errs = append(errs, fmt.Errorf("page %d: object is %q, want \"page\" (an export of /v1/organization/usage/completions)", page, p.Object))
			continue
		}
		for b, bucket := range p.Data {
			for i, res := range bucket.Results {
				evs, err := res.events(bucket, opt)
				if err != nil {
					errs = append(errs, fmt.Errorf("page %d, bucket %d, result %d: %w", page, b+1, i+1, err))
					continue
				}
				out = append(out, evs...)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("openai usage: %w", errors.Join(errs...))
	}
	return out, nil
}

func (r openaiResult) events(b openaiBucket, opt OpenAIOptions) ([]schemas.Event, error) {
	switch {
	case r.Model == nil || *r.Model == "":
		return nil, errors.New("model is null: export with group_by=model")
	case b.EndTime <= b.StartTime:
		return nil, fmt.Errorf("bucket end_time %d is not after start_time %d", b.EndTime, b.StartTime)
	case r.InputTokens < 0 || r.OutputTokens < 0 || r.InputCachedTokens < 0 || r.Requests < 0:
		return nil, errors.New("negative counts")
	case r.InputCachedTokens > r.InputTokens:
		return nil, fmt.Errorf("input_cached_tokens %d exceed input_tokens %d", r.InputCachedTokens, r.InputTokens)
	case r.Requests > MaxRequestsPerResult:
		return nil, fmt.Errorf("num_model_requests %d is more than %d", r.Requests, MaxRequestsPerResult)
	case r.Requests == 0:
		if r.InputTokens+r.OutputTokens > 0 {
			return nil, errors.New("tokens without requests")
		}
		return nil, nil
	}
	app, op := opt.App, "chat"
	if r.ProjectID != nil && *r.ProjectID != "" {
		app = *r.ProjectID
	}
	if r.Batch != nil && *r.Batch {
		op = "batch"
	}
	id := r.key(b)
	n := r.Requests
	start, span := time.Unix(b.StartTime, 0).UTC(), time.Duration(b.EndTime-b.StartTime)*time.Second
	evs := make([]schemas.Event, n)
	for j := range n {
		cached := share(r.InputCachedTokens, n, j)
		ev := schemas.Event{
			EventID: fmt.Sprintf("openai-usage-%s-%d", id, j), Time: start.Add(time.Duration(int64(span) / n * j)).Truncate(time.Millisecond),
			Tenant: opt.Tenant, TaskType: "import", App: app, Provider: "openai", Model: *r.Model, Operation: op,
			Usage: schemas.Usage{InputTokens: share(r.InputTokens-r.InputCachedTokens, n, j) + cached, CacheReadTokens: cached,
				OutputTokens: share(r.OutputTokens, n, j)},
		}
		ev.ApplyDefaults()
		if err := ev.Validate(); err != nil {
			return nil, err
		}
		evs[j] = ev
	}
	return evs, nil
}

// key identifies a result by every field the export groups by.
func (r openaiResult) key(b openaiBucket) string {
	s := func(p *string) string {
		if p == nil {
			return "\x00"
		}
		return *p
	}
	batch := "\x00"
	if r.Batch != nil {
		batch = fmt.Sprint(*r.Batch)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%d|%d|%s|%s|%s|%s|%s", b.StartTime, b.EndTime, s(r.Model), s(r.ProjectID), s(r.APIKeyID), s(r.UserID), batch)))
	return hex.EncodeToString(h[:10])
}

// share is the j-th of n near-equal parts of total; the parts sum to total.
func share(total, n, j int64) int64 {
	q := total / n
	if j < total%n {
		q++
	}
	return q
}
