package providers

import (
	"encoding/json"

	"github.com/jevonsdev/jevons/schemas"
)

func openAI(body []byte, e *schemas.Event) error {
	env, raw, err := split(body, func(e *envelope) json.RawMessage { return e.Usage })
	if err != nil {
		return err
	}
	var u struct {
		PromptTokens        *int64 `json:"prompt_tokens"`
		CompletionTokens    int64  `json:"completion_tokens"`
		PromptTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionTokensDetails struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
		InputTokens        *int64 `json:"input_tokens"`
		OutputTokens       int64  `json:"output_tokens"`
		InputTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokensDetails struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
	}
	if err := decode("usage", raw, &u); err != nil {
		return err
	}
	e.EventID, e.Model = env.ID, env.Model
	switch {
	case u.PromptTokens != nil: // Chat Completions
		e.Time = unixTime(env.Created)
		e.Usage = schemas.Usage{InputTokens: *u.PromptTokens, CacheReadTokens: u.PromptTokensDetails.CachedTokens,
			OutputTokens: u.CompletionTokens, ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens}
	case u.InputTokens != nil: // Responses
		e.Time = unixTime(env.CreatedAt)
		e.Usage = schemas.Usage{InputTokens: *u.InputTokens, CacheReadTokens: u.InputTokensDetails.CachedTokens,
			OutputTokens: u.OutputTokens, ReasoningTokens: u.OutputTokensDetails.ReasoningTokens}
	default:
		return &Error{"usage", "neither prompt_tokens (Chat Completions) nor input_tokens (Responses) present"}
	}
	return nil
}

func anthropic(body []byte, e *schemas.Event) error {
	env, raw, err := split(body, func(e *envelope) json.RawMessage { return e.Usage })
	if err != nil {
		return err
	}
	var u struct {
		InputTokens   *int64 `json:"input_tokens"`
		OutputTokens  int64  `json:"output_tokens"`
		CacheCreation int64  `json:"cache_creation_input_tokens"`
		CacheRead     int64  `json:"cache_read_input_tokens"`
		CacheDetail   struct {
			Ephemeral1h int64 `json:"ephemeral_1h_input_tokens"`
		} `json:"cache_creation"`
	}
	if err := decode("usage", raw, &u); err != nil {
		return err
	}
	if u.InputTokens == nil {
		return &Error{"usage.input_tokens", "required"}
	}
	in, err := sum("usage", *u.InputTokens, u.CacheCreation, u.CacheRead)
	if err != nil {
		return err
	}
	e.EventID, e.Model = env.ID, env.Model
	e.Usage = schemas.Usage{InputTokens: in, OutputTokens: u.OutputTokens, CacheReadTokens: u.CacheRead,
		CacheWriteTokens: u.CacheCreation, CacheWrite1hTokens: u.CacheDetail.Ephemeral1h}
	return nil
}

func gemini(body []byte, e *schemas.Event) error {
	env, raw, err := split(body, func(e *envelope) json.RawMessage { return e.UsageMetadata })
	if err != nil {
		return err
	}
	var u struct {
		Prompt     *int64 `json:"promptTokenCount"`
		Candidates int64  `json:"candidatesTokenCount"`
		Cached     int64  `json:"cachedContentTokenCount"`
		Thoughts   int64  `json:"thoughtsTokenCount"`
		ToolUse    int64  `json:"toolUsePromptTokenCount"`
	}
	if err := decode("usageMetadata", raw, &u); err != nil {
		return err
	}
	if u.Prompt == nil {
		return &Error{"usageMetadata.promptTokenCount", "required"}
	}
	in, err := sum("usageMetadata", *u.Prompt, u.ToolUse)
	if err != nil {
		return err
	}
	out, err := sum("usageMetadata", u.Candidates, u.Thoughts)
	if err != nil {
		return err
	}
	e.EventID, e.Model = env.ResponseID, env.ModelVersion
	e.Usage = schemas.Usage{InputTokens: in, CacheReadTokens: u.Cached, OutputTokens: out, ReasoningTokens: u.Thoughts}
	return nil
}

func bedrock(body []byte, e *schemas.Event) error {
	env, raw, err := split(body, func(e *envelope) json.RawMessage { return e.Usage })
	if err != nil {
		return err
	}
	var u struct {
		Input      *int64 `json:"inputTokens"`
		Output     int64  `json:"outputTokens"`
		CacheRead  int64  `json:"cacheReadInputTokens"`
		CacheWrite int64  `json:"cacheWriteInputTokens"`
	}
	if err := decode("usage", raw, &u); err != nil {
		return err
	}
	if u.Input == nil {
		return &Error{"usage.inputTokens", "required"}
	}
	in, err := sum("usage", *u.Input, u.CacheRead, u.CacheWrite)
	if err != nil {
		return err
	}
	e.LatencyMs = env.Metrics.LatencyMs
	e.Usage = schemas.Usage{InputTokens: in, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite}
	return nil
}
