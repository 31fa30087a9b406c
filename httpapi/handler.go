package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/switchboard-go/switchboard/bus"
)

// Token is a bearer token and the calls it may make ("*": all).
type Token struct {
	Token string   `mapstructure:"token" json:"token" yaml:"token"`
	Calls []string `mapstructure:"calls" json:"calls" yaml:"calls"`
}

// Handler serves the API. Create it with New.
type Handler struct {
	api     *bus.Client
	tokens  []Token
	maxBody int64
	calls   map[string]call
	log     *slog.Logger
	mux     *http.ServeMux
}

// New returns the API handler on api. With no tokens every request is
// refused: the API is never open by accident. maxBody bounds a request body
// (0 or less: Config's default, api.max_body_bytes).
func New(api *bus.Client, tokens []Token, maxBody int64, log *slog.Logger) *Handler {
	if maxBody <= 0 {
		maxBody = DefaultConfig().MaxBodyBytes
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{api: api, tokens: tokens, maxBody: maxBody, calls: Calls(), log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/openapi.json", h.openAPI)
	h.mux.HandleFunc("POST /api/{call}", h.serveCall)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// apiError is an error with its HTTP status and stable code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

func (h *Handler) serveCall(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("call")
	result, err := h.do(r, name)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = classify(err)
		}
		if ae.status >= 500 {
			h.log.Warn("api call failed", "call", name, "err", err)
		}
		writeJSON(w, ae.status, map[string]any{"error": map[string]string{"code": ae.code, "message": ae.msg}})
		return
	}
	writeJSON(w, http.StatusOK, result)
}

func (h *Handler) do(r *http.Request, name string) (any, error) {
	c, known := h.calls[name]
	if err := h.authorize(r, name); err != nil {
		return nil, err
	}
	if !known {
		return nil, fail(http.StatusNotFound, "unknown_call", "no call %q", name)
	}
	var req Request
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fail(http.StatusRequestEntityTooLarge, "too_large", "body over %d bytes", h.maxBody)
		}
		return nil, fail(http.StatusBadRequest, "bad_json", "reading the body: %v", err)
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, fail(http.StatusBadRequest, "bad_json", "malformed JSON: %v", err)
	}
	if err := req.check(c.needs); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), bus.DefaultTimeout)
	defer cancel()
	return c.run(ctx, h.api, req)
}

// decodeStrict decodes one JSON object into v and refuses what
// encoding/json would let through: unknown fields, anything after the
// value, and a key given twice in one object (at any depth), where a
// later value would silently win.
func decodeStrict(body []byte, v any) error {
	if err := checkDuplicateKeys(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// checkDuplicateKeys walks the JSON tokens and fails on a key repeated
// within one object.
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, &frame{object: d == '{', keys: map[string]bool{}, key: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.key {
			k, _ := tok.(string)
			if top.keys[k] {
				return fmt.Errorf("key %q given twice", k)
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		top.key = true // a scalar value: the next token is a key
	}
}

// authorize checks the bearer token and that it may make the call.
func (h *Handler) authorize(r *http.Request, name string) error {
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || given == "" {
		return fail(http.StatusUnauthorized, "unauthorized", "missing bearer token")
	}
	for _, t := range h.tokens {
		if subtle.ConstantTimeCompare([]byte(t.Token), []byte(given)) == 1 {
			if slices.Contains(t.Calls, "*") || slices.Contains(t.Calls, name) {
				return nil
			}
			return fail(http.StatusForbidden, "forbidden", "this token may not call %q", name)
		}
	}
	return fail(http.StatusUnauthorized, "unauthorized", "unknown token")
}

// check reports the first field a call needs that the request lacks.
func (r Request) check(needs string) error {
	for _, f := range needs {
		missing := ""
		switch {
		case f == 'c' && r.ClientID == "":
			missing = "client_id"
		case f == 'g' && r.Group == "":
			missing = "group"
		case f == 'u' && r.Uid == "":
			missing = "uid"
		case f == 'd' && r.Data == nil:
			missing = "data"
		case f == 's' && r.Session == nil:
			missing = "session"
		case f == 'G' && len(r.Groups) == 0:
			missing = "groups"
		case f == 'U' && len(r.Uids) == 0:
			missing = "uids"
		}
		if missing != "" {
			return fail(http.StatusBadRequest, "bad_request", "%s is required", missing)
		}
	}
	return nil
}

// classify maps errors of the Gateway API to HTTP answers.
func classify(err error) *apiError {
	switch {
	case errors.Is(err, bus.ErrClientNotFound):
		return fail(http.StatusNotFound, "client_not_found", "%v", err)
	case errors.Is(err, bus.ErrInvalidClientID), errors.Is(err, bus.ErrInvalidName), errors.Is(err, bus.ErrInvalidUTF8), errors.Is(err, errMissing):
		return fail(http.StatusBadRequest, "bad_request", "%v", err)
	case errors.Is(err, bus.ErrQueryTimeout), errors.Is(err, context.DeadlineExceeded):
		return fail(http.StatusGatewayTimeout, "timeout", "%v", err)
	}
	return fail(http.StatusInternalServerError, "internal", "%v", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
