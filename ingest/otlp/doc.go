// Package otlp maps OpenTelemetry spans that carry GenAI usage
// (gen_ai.usage.* attributes) to schema v1 token events. It is a pure
// mapping: it must not talk to Kafka or the network, and it never reads
// prompt or completion content (gen_ai.input.messages,
// gen_ai.output.messages, gen_ai.prompt*, gen_ai.completion*, tool
// arguments): only the attribute keys listed in this package are looked up,
// and no span attribute is copied into an event.
//
// Mapping (GenAI semantic conventions, with the older names):
//
//	provider   gen_ai.provider.name, else gen_ai.system
//	model      gen_ai.response.model, else gen_ai.request.model
//	operation  gen_ai.operation.name (default chat)
//	input      gen_ai.usage.input_tokens, else gen_ai.usage.prompt_tokens
//	output     gen_ai.usage.output_tokens, else gen_ai.usage.completion_tokens
//	cache read gen_ai.usage.cache_read.input_tokens
//	cache write gen_ai.usage.cache_write.input_tokens, else gen_ai.usage.cache_creation.input_tokens
//	reasoning  gen_ai.usage.reasoning.output_tokens
//	event id   trace id + span id (hex), so an exporter's retry is the same event
//	task id    the first of Config.TaskIDAttrs present, else the trace id
//	task type  the first of Config.TaskTypeAttrs present
//	app        the first of Config.AppAttrs present (span, then resource)
//	time       span end; latency: end - start
//	status     error when the span status is ERROR
//
// The conventions count cache reads and writes inside input_tokens. Some
// instrumentations report Anthropic's raw input_tokens, which exclude them;
// when cache reads plus writes exceed input_tokens the mapping adds them,
// so the event is what the provider billed rather than a rejection.
package otlp
