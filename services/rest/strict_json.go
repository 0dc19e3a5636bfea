package main

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/golang/protobuf/jsonpb"
	"github.com/golang/protobuf/proto"
	"github.com/grpc-ecosystem/grpc-gateway/runtime"
)

// strictJSONPb is grpc-gateway's JSONPb marshaler with proto3 JSON's default
// parsing rule: a request body field the API does not define is an error
// (grpc-gateway v1 hard-codes AllowUnknownFields), so a typo such as
// "questoin" is a 400 naming the field instead of a silently empty request.
type strictJSONPb struct {
	runtime.JSONPb
}

func (m *strictJSONPb) NewDecoder(r io.Reader) runtime.Decoder {
	d := json.NewDecoder(r)
	loose := runtime.DecoderWrapper{Decoder: d}
	return runtime.DecoderFunc(func(v interface{}) error {
		if p, ok := v.(proto.Message); ok {
			return (&jsonpb.Unmarshaler{}).UnmarshalNext(d, p)
		}
		return loose.Decode(v)
	})
}

func (m *strictJSONPb) Unmarshal(data []byte, v interface{}) error {
	if p, ok := v.(proto.Message); ok {
		return (&jsonpb.Unmarshaler{}).Unmarshal(bytes.NewReader(data), p)
	}
	return m.JSONPb.Unmarshal(data, v)
}
