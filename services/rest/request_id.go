// One request id per REST request, through the gateway to every backend: the
// caller's X-Request-Id (1-128 characters of [A-Za-z0-9._:-]), else the trace
// id of a W3C traceparent, else a new random one. It is sent to the gateway as
// x-request-id metadata, returned in the X-Request-Id response header, and
// the gateway's error messages end with it.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
)

var (
	validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	traceparent    = regexp.MustCompile(`^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}`)
)

func newRequestID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "0000000000000000"
	}
	return hex.EncodeToString(b)
}

// requestIDOf is the id this request goes by.
func requestIDOf(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); validRequestID.MatchString(id) {
		return id
	}
	if m := traceparent.FindStringSubmatch(r.Header.Get("Traceparent")); m != nil && m[1] != strings.Repeat("0", 32) {
		return m[1]
	}
	return newRequestID()
}

// withRequestID sets the request's id on its headers (forwarded by
// forwardHeader) and on the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestIDOf(r)
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r)
	})
}

// forwardHeader: grpc-gateway's incoming header matcher, plus the request id
// and the W3C trace context as gRPC metadata.
func forwardHeader(key string) (string, bool) {
	switch strings.ToLower(key) {
	case "x-request-id":
		return "x-request-id", true
	case "traceparent", "tracestate":
		return strings.ToLower(key), true
	}
	return runtime.DefaultHeaderMatcher(key)
}
