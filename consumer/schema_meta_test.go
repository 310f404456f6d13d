package consumer

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/auth0-worker/auth0-worker/schemas"
)

// TestServiceInfoShowsSchemas: what `nats micro info auth0-worker` reads
// ($SRV.INFO.auth0-worker) holds, for each of the seven endpoints, its
// request, reply and error schemas, and the request schema judges bodies
// as the worker does.
func TestServiceInfoShowsSchemas(t *testing.T) {
	e := newEnv(t, envConfig{})
	resp, err := e.nc.Request("$SRV.INFO."+ServiceName, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(resp.Data, &info); err != nil {
		t.Fatal(err)
	}
	served := builtinSet(t).names(TransportService)
	if len(served) != 7 || len(info.Endpoints) != len(served) {
		t.Fatalf("%d endpoints, want %d (7 built-in commands)", len(info.Endpoints), len(served))
	}
	bySubject := map[string]micro.EndpointInfo{}
	for _, ep := range info.Endpoints {
		bySubject[ep.Subject] = ep
	}
	for _, cmd := range served {
		ep, ok := bySubject[e.c.ServiceSubject(cmd)]
		if !ok {
			t.Fatalf("no endpoint on %s", e.c.ServiceSubject(cmd))
		}
		for key, name := range map[string]string{
			schemas.MetaRequestSchema: schemas.Request(cmd), schemas.MetaResponseSchema: schemas.Reply(cmd), schemas.MetaErrorSchema: schemas.Error,
		} {
			want, _ := schemas.Bundle(name)
			if ep.Metadata[key] != string(want) {
				t.Errorf("%s metadata %s: %.120q, want the bundled %s", cmd, key, ep.Metadata[key], name)
			}
		}
	}
	if len(resp.Data) > 64<<10 {
		t.Fatalf("the service info is %d bytes; keep it well under a max payload", len(resp.Data))
	}
}
