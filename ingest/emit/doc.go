// Package emit is the library AI services import to report each model call
// to Jevons. Emit validates an event and queues it without blocking the
// caller's request path; a background writer sends batches to Kafka with
// acknowledgement from all in-sync replicas, compression and retries. The
// message key is tenant/task_id, so a task's events, and every retry of an
// event, stay in one partition in order.
//
// Wrapping an OpenAI-style chat call:
//
//	em, err := emit.New(emit.DefaultConfig(), logger)
//	if err != nil { ... }
//	defer em.Close(shutdownCtx)
//
//	start := time.Now()
//	resp, err := client.Chat.Completions.New(ctx, params)
//	ev := &schemas.Event{
//		EventID:   uuid.NewString(),
//		Time:      time.Now(),
//		Tenant:    tenantID,
//		TaskID:    agentRunID,
//		TaskType:  "code-review",
//		App:       "reviewer",
//		Provider:  "openai",
//		Model:     string(params.Model),
//		LatencyMs: time.Since(start).Milliseconds(),
//	}
//	if err != nil {
//		ev.Status = schemas.StatusError
//	} else {
//		ev.Model = resp.Model
//		ev.Usage = schemas.Usage{
//			InputTokens:     resp.Usage.PromptTokens,
//			OutputTokens:    resp.Usage.CompletionTokens,
//			CacheReadTokens: resp.Usage.PromptTokensDetails.CachedTokens,
//			ReasoningTokens: resp.Usage.CompletionTokensDetails.ReasoningTokens,
//		}
//	}
//	_ = em.Emit(ctx, ev) // never blocks; a full queue drops and counts
//
// Against brokers that demand SCRAM and TLS, set Config.Security:
//
//	cfg := emit.DefaultConfig()
//	cfg.Brokers = []string{"kafka-bootstrap:9093"}
//	pw, err := secure.ReadSecretFile("/etc/jevons/kafka/password")
//	if err != nil { ... }
//	cfg.Security = secure.KafkaConfig{SASLMechanism: secure.ScramSHA512, SASLUser: "jevons",
//		SASLPassword: pw, TLS: secure.TLS{Enabled: true, CAFile: "/etc/jevons/kafka-ca/ca.crt"}}
//
// The package must not price or aggregate anything; it only delivers.
package emit
