package gateway

import (
	"context"
	"net/http"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// traceService is the OTLP/gRPC trace receiver.
type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	g *Gateway
}

func registerTraceService(s *grpc.Server, g *Gateway) {
	coltracepb.RegisterTraceServiceServer(s, &traceService{g: g})
}

// Export authenticates by the "authorization" metadata (Bearer key) and
// accepts the request's usage spans.
func (t *traceService) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	code := http.StatusOK
	defer func() { t.g.m.requests.WithLabelValues("grpc", itoa(code)).Inc() }()
	md, _ := metadata.FromIncomingContext(ctx)
	var auth string
	if v := md.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	tenant, err := t.g.keys.Tenant(auth)
	if err != nil {
		code = http.StatusUnauthorized
		return nil, grpcError(&apiError{Code: code, Msg: err.Error() + "; nothing was accepted"})
	}
	r := (&http.Request{}).WithContext(ctx)
	resp, e := t.g.export(r, "grpc", tenant, req)
	if e != nil {
		code = e.Code
		return nil, grpcError(e)
	}
	return resp, nil
}

// grpcError turns an apiError into a status; 429 and 503 carry RetryInfo,
// which OTLP exporters need to retry ResourceExhausted and honour delays.
func grpcError(e *apiError) error {
	st := status.New(grpcCode(e.Code), e.Msg)
	if e.RetryAfter > 0 {
		d := time.Duration(retryAfterSeconds(e.RetryAfter)) * time.Second
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
			st = withInfo
		}
	}
	return st.Err()
}
