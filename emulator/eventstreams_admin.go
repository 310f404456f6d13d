package emulator

// The admin HTTP surface of event streams, under /emulator/event-streams.
// Create takes the body of Auth0's POST /api/v2/event-streams (so the body
// that creates the real stream works here too), plus two emulator
// extensions at the top level: webhook_endpoints and delivery.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// eventStreamBody is Auth0's create body with the emulator's extensions.
type eventStreamBody struct {
	Name          string `json:"name"`
	Subscriptions []struct {
		EventType string `json:"event_type"`
	} `json:"subscriptions"`
	Destination      webhookDestination `json:"destination"`
	Status           string             `json:"status,omitempty"` // enabled (default) or disabled
	WebhookEndpoints []string           `json:"webhook_endpoints,omitempty"`
	Delivery         DeliveryKnobs      `json:"delivery"`
}

// webhookDestination is Auth0's destination member.
type webhookDestination struct {
	Type          string `json:"type"`
	Configuration struct {
		WebhookEndpoint      string               `json:"webhook_endpoint"`
		WebhookAuthorization WebhookAuthorization `json:"webhook_authorization"`
	} `json:"configuration"`
}

func (d webhookDestination) check() error {
	if d.Type != "webhook" {
		return fmt.Errorf("%w: destination.type must be webhook; got %q", ErrInvalidEventStream, d.Type)
	}
	return nil
}

// eventStreamPatch is the PATCH body: each member present replaces the
// stream's (delivery wholesale: a knob left out takes its default).
type eventStreamPatch struct {
	Status        *string `json:"status"`
	Subscriptions *[]struct {
		EventType string `json:"event_type"`
	} `json:"subscriptions"`
	Destination      *webhookDestination `json:"destination"`
	WebhookEndpoints *[]string           `json:"webhook_endpoints"`
	Delivery         *DeliveryKnobs      `json:"delivery"`
}

func (p eventStreamPatch) apply(c *EventStreamConfig) {
	if p.Subscriptions != nil {
		c.Subscriptions = c.Subscriptions[:0]
		for _, s := range *p.Subscriptions {
			c.Subscriptions = append(c.Subscriptions, s.EventType)
		}
	}
	if p.Destination != nil {
		c.WebhookEndpoint = p.Destination.Configuration.WebhookEndpoint
		c.WebhookAuthorization = p.Destination.Configuration.WebhookAuthorization
	}
	if p.WebhookEndpoints != nil {
		c.WebhookEndpoints = *p.WebhookEndpoints
	}
	if p.Delivery != nil {
		c.Delivery = *p.Delivery
	}
}

// patchEventStream applies a PATCH body: configuration first, then status.
func (e *Emulator) patchEventStream(id string, p eventStreamPatch) error {
	if p.Status != nil && *p.Status != EventStreamEnabled && *p.Status != EventStreamDisabled {
		return fmt.Errorf("%w: status must be enabled or disabled; got %q", ErrInvalidEventStream, *p.Status)
	}
	if p.Destination != nil {
		if err := p.Destination.check(); err != nil {
			return err
		}
	}
	if p.Subscriptions != nil || p.Destination != nil || p.WebhookEndpoints != nil || p.Delivery != nil {
		if err := e.UpdateEventStream(id, p.apply); err != nil {
			return err
		}
	}
	if p.Status != nil {
		return e.SetEventStreamEnabled(id, *p.Status == EventStreamEnabled)
	}
	return nil
}

func (b eventStreamBody) config() (EventStreamConfig, error) {
	if err := b.Destination.check(); err != nil {
		return EventStreamConfig{}, err
	}
	if b.Status != "" && b.Status != EventStreamEnabled && b.Status != EventStreamDisabled {
		return EventStreamConfig{}, fmt.Errorf("%w: status must be enabled or disabled; got %q", ErrInvalidEventStream, b.Status)
	}
	c := EventStreamConfig{
		Name:                 b.Name,
		WebhookEndpoint:      b.Destination.Configuration.WebhookEndpoint,
		WebhookEndpoints:     b.WebhookEndpoints,
		WebhookAuthorization: b.Destination.Configuration.WebhookAuthorization,
		Delivery:             b.Delivery,
	}
	for _, s := range b.Subscriptions {
		c.Subscriptions = append(c.Subscriptions, s.EventType)
	}
	return c, nil
}

// UnmarshalJSON accepts durations as "2s" or nanoseconds and refuses
// unknown fields, naming the field at fault. A knob left out is zero (its
// default): the object replaces the knobs wholesale.
func (k *DeliveryKnobs) UnmarshalJSON(b []byte) error {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(b, &patch); err != nil {
		return fmt.Errorf("delivery: %v", err)
	}
	*k = DeliveryKnobs{}
	return applyKnobPatch(k, patch, func(n string) string { return "delivery." + n })
}

// MarshalJSON writes durations as Go strings ("2s"), zero knobs left out.
func (k DeliveryKnobs) MarshalJSON() ([]byte, error) { return json.Marshal(knobsView(k)) }

// serveAdminEventStreams handles /emulator/event-streams[/{id}[/deliveries|/redeliver]].
func (e *Emulator) serveAdminEventStreams(w http.ResponseWriter, r *http.Request, path string) {
	rest := strings.Trim(strings.TrimPrefix(path, "/emulator/event-streams"), "/")
	rawID, sub, _ := strings.Cut(rest, "/")
	id, err := url.PathUnescape(rawID)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "", "bad event stream id escape")
		return
	}
	switch {
	case rest == "" && r.Method == http.MethodPost:
		e.adminCreateEventStream(w, r)
	case rest == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, e.EventStreams())
	case sub == "" && r.Method == http.MethodGet:
		st, err := e.EventStream(id)
		writeStreamResult(w, http.StatusOK, st, err)
	case sub == "" && r.Method == http.MethodPatch:
		e.adminPatchEventStream(w, r, id)
	case sub == "" && r.Method == http.MethodDelete:
		writeStreamResult(w, http.StatusNoContent, nil, e.DeleteEventStream(id))
	case sub == "deliveries" && r.Method == http.MethodGet:
		e.adminDeliveries(w, r, id)
	case sub == "redeliver" && r.Method == http.MethodPost:
		e.adminRedeliver(w, r, id)
	default:
		writeAPIError(w, http.StatusNotFound, "", "Not Found: event-stream admin endpoints are POST/GET /emulator/event-streams, GET/PATCH/DELETE /emulator/event-streams/{id}, GET /emulator/event-streams/{id}/deliveries[?status=failed], POST /emulator/event-streams/{id}/redeliver")
	}
}

// adminPatchEventStream is PATCH /emulator/event-streams/{id}.
func (e *Emulator) adminPatchEventStream(w http.ResponseWriter, r *http.Request, id string) {
	var body eventStreamPatch
	if err := decodeAdminBody(r, &body); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", `body must be an object of status, subscriptions, destination, webhook_endpoints and/or delivery: `+err.Error())
		return
	}
	err := e.patchEventStream(id, body)
	st, _ := e.EventStream(id)
	writeStreamResult(w, http.StatusOK, st, err)
}

// adminDeliveries is GET /emulator/event-streams/{id}/deliveries[?status=].
func (e *Emulator) adminDeliveries(w http.ResponseWriter, r *http.Request, id string) {
	list, err := e.Deliveries(id)
	if want := r.URL.Query().Get("status"); want != "" && err == nil {
		kept := list[:0]
		for _, d := range list {
			if d.Status == want {
				kept = append(kept, d)
			}
		}
		list = kept
	}
	writeStreamResult(w, http.StatusOK, list, err)
}

// adminRedeliver is POST /emulator/event-streams/{id}/redeliver; an empty
// body redelivers every failed delivery.
func (e *Emulator) adminRedeliver(w http.ResponseWriter, r *http.Request, id string) {
	var body struct {
		DeliveryIDs []string `json:"delivery_ids"`
	}
	if r.ContentLength != 0 {
		if err := decodeAdminBody(r, &body); err != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_body", `body must be empty or {"delivery_ids":["dlv_..."]}: `+err.Error())
			return
		}
	}
	n, err := e.RedeliverEvents(id, body.DeliveryIDs...)
	writeStreamResult(w, http.StatusOK, map[string]int{"redelivered": n}, err)
}

func (e *Emulator) adminCreateEventStream(w http.ResponseWriter, r *http.Request) {
	var body eventStreamBody
	if err := decodeAdminBody(r, &body); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", "body must be an event stream (Auth0's POST /api/v2/event-streams body): "+err.Error())
		return
	}
	cfg, err := body.config()
	var id string
	if err == nil {
		id, err = e.CreateEventStream(cfg)
	}
	if err == nil && body.Status == EventStreamDisabled {
		err = e.SetEventStreamEnabled(id, false)
	}
	st, _ := e.EventStream(id)
	writeStreamResult(w, http.StatusCreated, st, err)
}

func decodeAdminBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// writeStreamResult maps the event-stream errors to answers.
func writeStreamResult(w http.ResponseWriter, status int, v any, err error) {
	switch {
	case errors.Is(err, ErrEventStreamNotFound):
		writeAPIError(w, http.StatusNotFound, "inexistent_event_stream", err.Error())
	case errors.Is(err, ErrEventStreamDisabled):
		writeAPIError(w, http.StatusConflict, "event_stream_disabled", err.Error())
	case err != nil:
		writeAPIError(w, http.StatusBadRequest, "invalid_body", err.Error())
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, v)
	}
}

// adminUpdateUser is PATCH /emulator/users/{id}: UpdateUser over HTTP.
func (e *Emulator) adminUpdateUser(w http.ResponseWriter, r *http.Request, rawID string) {
	id, err := url.PathUnescape(rawID)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "", "bad user id escape")
		return
	}
	var fields map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&fields); err != nil || fields == nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", "body must be a JSON object of user fields")
		return
	}
	raw, err := e.UpdateUser(id, fields)
	switch {
	case errors.Is(err, ErrUserNotFound):
		writeAPIError(w, http.StatusNotFound, "inexistent_user", err.Error())
	case err != nil:
		writeAPIError(w, http.StatusBadRequest, "invalid_body", err.Error())
	default:
		writeRawJSON(w, http.StatusOK, raw)
	}
}
