// orqa-rest: REST+JSON front of orqa's public gRPC API (OpenQA, Admin), made
// with grpc-gateway from the same protos. It holds no state.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	orqav1 "orqa/gen/orqa/v1"
)

// envOr returns the ORQA_* environment variable for a flag, or def.
func envOr(flagName, def string) string {
	env := "ORQA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
	if v, ok := os.LookupEnv(env); ok {
		return v
	}
	return def
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("orqa-rest ")
	fs := flag.NewFlagSet("orqa-rest", flag.ContinueOnError)
	listen := fs.String("listen", envOr("listen", "127.0.0.1:8080"), "HTTP listen address host:port [ORQA_LISTEN]")
	gateway := fs.String("gateway", envOr("gateway", "127.0.0.1:50051"), "orqa-gateway gRPC address host:port [ORQA_GATEWAY]")
	maxBackoff := fs.Duration("max-backoff", 1*time.Second, "Longest reconnect backoff to the gateway")
	grace := fs.Duration("grace-period", 10*time.Second, "Time in-flight requests get after SIGTERM")
	serving := tlsFiles{certFlag: "--tls-cert", keyFlag: "--tls-key", caFlag: "--tls-client-ca"}
	fs.StringVar(&serving.cert, "tls-cert", envOr("tls-cert", ""), "PEM certificate chain: serve HTTPS (empty: HTTP) [ORQA_TLS_CERT]")
	fs.StringVar(&serving.key, "tls-key", envOr("tls-key", ""), "PEM private key of --tls-cert [ORQA_TLS_KEY]")
	fs.StringVar(&serving.ca, "tls-client-ca", envOr("tls-client-ca", ""), "PEM CA: HTTPS clients must present a certificate it signs [ORQA_TLS_CLIENT_CA]")
	backend := tlsFiles{certFlag: "--backend-tls-cert", keyFlag: "--backend-tls-key", caFlag: "--backend-tls-ca"}
	fs.StringVar(&backend.ca, "backend-tls-ca", envOr("backend-tls-ca", ""), "PEM CA that signs the gateway's certificate: dial it over TLS [ORQA_BACKEND_TLS_CA]")
	fs.StringVar(&backend.cert, "backend-tls-cert", envOr("backend-tls-cert", ""), "PEM client certificate for the gateway (mutual TLS; default --tls-cert) [ORQA_BACKEND_TLS_CERT]")
	fs.StringVar(&backend.key, "backend-tls-key", envOr("backend-tls-key", ""), "PEM private key of --backend-tls-cert (default --tls-key) [ORQA_BACKEND_TLS_KEY]")
	reloadDefault := 10 * time.Second
	if v, ok := os.LookupEnv("ORQA_TLS_RELOAD_INTERVAL"); ok {
		if d, err := time.ParseDuration(v); err == nil {
			reloadDefault = d
		}
	}
	reload := fs.Duration("tls-reload-interval", reloadDefault, "How often the TLS files are checked for a replaced certificate [ORQA_TLS_RELOAD_INTERVAL]")
	version := fs.Bool("version", false, "Print the version and exit")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if *version {
		fmt.Println("orqa-rest", orqaVersion)
		return
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "orqa-rest: error: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	if *maxBackoff <= 0 {
		fmt.Fprintln(os.Stderr, "orqa-rest: error: --max-backoff must be > 0")
		os.Exit(2)
	}
	if *reload <= 0 {
		fmt.Fprintln(os.Stderr, "orqa-rest: error: --tls-reload-interval must be > 0")
		os.Exit(2)
	}
	httpsConfig, err := serverTLS(serving, *reload)
	if err != nil {
		fmt.Fprintf(os.Stderr, "orqa-rest: error: %v\n", err)
		os.Exit(2)
	}
	if backend.ca != "" && backend.cert == "" && backend.key == "" {
		backend.cert, backend.key = serving.cert, serving.key
	}
	gatewayHost := *gateway
	if i := strings.Index(gatewayHost, ":///"); i >= 0 {
		gatewayHost = gatewayHost[i+4:]
	}
	gatewayTLS, err := clientTLS(backend, gatewayHost, *reload)
	if err != nil {
		fmt.Fprintf(os.Stderr, "orqa-rest: error: %v\n", err)
		os.Exit(2)
	}
	transport := grpc.WithInsecure()
	if gatewayTLS != nil {
		transport = grpc.WithTransportCredentials(credentials.NewTLS(gatewayTLS))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// grpc-go's default reconnect backoff grows to 120 s; capped so the proxy
	// notices a restarted gateway within about a second.
	bc := backoff.DefaultConfig
	bc.MaxDelay = *maxBackoff
	conn, err := grpc.DialContext(ctx, *gateway, transport,
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: 2 * time.Second}))
	if err != nil {
		fmt.Fprintf(os.Stderr, "orqa-rest: error: --gateway %s: %v\n", *gateway, err)
		os.Exit(2)
	}
	defer conn.Close()

	// Unknown routes, wrong methods and unparsable paths get the same JSON
	// error shape as RPC errors instead of grpc-gateway's plain text.
	runtime.OtherErrorHandler = func(w http.ResponseWriter, _ *http.Request, msg string, code int) {
		grpcCode := map[int]int{http.StatusNotFound: 5, http.StatusMethodNotAllowed: 12, http.StatusBadRequest: 3}[code]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]interface{}{"error": msg, "message": msg, "code": grpcCode, "details": []interface{}{}})
	}
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&strictJSONPb{runtime.JSONPb{OrigName: true, EmitDefaults: true}}),
		runtime.WithIncomingHeaderMatcher(forwardHeader))
	if err := orqav1.RegisterOpenQAHandler(ctx, mux, conn); err != nil {
		log.Fatalf("register OpenQA: %v", err)
	}
	if err := orqav1.RegisterAdminHandler(ctx, mux, conn); err != nil {
		log.Fatalf("register Admin: %v", err)
	}

	health := healthpb.NewHealthClient(conn)
	root := http.NewServeMux()
	root.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		hctx, hcancel := context.WithTimeout(r.Context(), 1*time.Second)
		defer hcancel()
		w.Header().Set("Content-Type", "application/json")
		resp, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"status": "UNREACHABLE", "gateway": *gateway, "error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"status": resp.Status.String(), "gateway": *gateway})
	})
	root.HandleFunc("/openapi.json", serveOpenAPI)
	root.Handle("/", withRequestID(withIndex(mux)))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "orqa-rest: error: --listen %s: %v\n", *listen, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		s := <-sigs
		log.Printf("received %v: draining for up to %v", s, *grace)
		sctx, scancel := context.WithTimeout(context.Background(), *grace)
		defer scancel()
		srv.Shutdown(sctx)
		close(done)
	}()
	scheme, gatewayMode := "http", "plaintext"
	if httpsConfig != nil {
		scheme = "https"
		srv.TLSConfig = httpsConfig
		ln = tls.NewListener(ln, httpsConfig)
		if serving.ca != "" {
			scheme = "https (client certificates required)"
		}
	}
	if gatewayTLS != nil {
		gatewayMode = "TLS"
		if backend.cert != "" {
			gatewayMode = "mutual TLS"
		}
	}
	log.Printf("listening on %s://%s, gateway %s (%s)", scheme, ln.Addr(), *gateway, gatewayMode)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
	<-done
	log.Printf("stopped")
}
