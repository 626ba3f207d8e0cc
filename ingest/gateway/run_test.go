package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// run serves f's gateway until the test ends.
func (f *fixture) run() (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.g.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	f.t.Cleanup(func() { _ = stop() })
	return stop
}

// A request in flight when the gateway is told to stop still gets its
// answer after Kafka acknowledged, and Run returns once it has.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	f := newFixture(t, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	f.g.prod = ProducerFunc(func(ctx context.Context, msgs []kafka.Message) error {
		close(entered)
		<-release
		return f.sink.Produce(ctx, msgs)
	})
	stop := f.run()
	code := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+f.g.HTTPAddr()+"/v1/events", bytes.NewReader([]byte(event("a", ""))))
		req.Header.Set("Authorization", "Bearer "+f.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			code <- -1
			return
		}
		resp.Body.Close()
		code <- resp.StatusCode
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case <-stopped:
		t.Fatal("Run returned with a request in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if c := <-code; c != http.StatusOK {
		t.Fatalf("in-flight request answered %d", c)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := f.sink.count(); n != 1 {
		t.Fatalf("%d events produced", n)
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jevons-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With a certificate both ports speak TLS; gRPC answers carry the codes
// OTLP exporters act on: Unauthenticated, and Unavailable with RetryInfo.
func TestTLSAndGRPCErrors(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	f := newFixture(t, func(c *Config) { c.TLSCert, c.TLSKey, c.GRPCAddr = certFile, keyFile, "127.0.0.1:0" })
	t.Cleanup(func() { f.g.grpcLn.Close() })
	f.run()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+f.g.HTTPAddr()+"/v1/events", bytes.NewReader([]byte(event("a", ""))))
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https: %v %v", resp, err)
	}
	resp.Body.Close()
	conn, err := grpc.NewClient(f.g.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := coltracepb.NewTraceServiceClient(conn)
	_, err = tc.Export(context.Background(), &coltracepb.ExportTraceServiceRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no key: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+f.key)
	req2, err := DecodeTraces([]byte(otlpJSON), true)
	if err != nil {
		t.Fatal(err)
	}
	f.sink.setFail(errTest)
	_, err = tc.Export(ctx, req2)
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || len(st.Details()) != 1 {
		t.Fatalf("Kafka failing: %v %v", st.Code(), st.Details())
	}
	if ri, ok := st.Details()[0].(*errdetails.RetryInfo); !ok || ri.RetryDelay.AsDuration() != 5*time.Second {
		t.Fatalf("retry info %v", st.Details()[0])
	}
	f.sink.setFail(nil)
	if _, err := tc.Export(ctx, req2); err != nil {
		t.Fatal(err)
	}
	if n := f.sink.count(); n != 2 {
		t.Fatalf("%d events produced", n)
	}
}

var errTest = &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}

func (s *sink) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func TestReadyz(t *testing.T) {
	f := newFixture(t, nil)
	get := func() int {
		w := httptest.NewRecorder()
		f.server.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code
	}
	f.g.SetReady(false)
	if c := get(); c != http.StatusServiceUnavailable {
		t.Fatalf("not ready: %d", c)
	}
	f.g.SetReady(true)
	if c := get(); c != http.StatusOK {
		t.Fatalf("ready: %d", c)
	}
}
