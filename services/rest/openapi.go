package main

import (
	"net/http"
)

// openapiDocument is filled at build time from the swagger files that
// protoc-gen-swagger writes for the public protos (see openapi_gen.go).
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(openapiDocument))
}
