package httpapi

import (
	"maps"
	"net/http"
	"slices"
)

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() map[string]any {
	calls := Calls()
	fieldSchema := map[string]any{
		"client_id":  map[string]any{"type": "string"},
		"group":      map[string]any{"type": "string"},
		"uid":        map[string]any{"type": "string"},
		"data":       map[string]any{"type": "string", "description": "text, or base64 when binary is true"},
		"binary":     map[string]any{"type": "boolean"},
		"exclude":    map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"client_ids": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"session":    map[string]any{"type": "object"},
		"groups":     map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"uids":       map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}
	fieldOf := map[rune]string{'c': "client_id", 'g': "group", 'u': "uid", 'd': "data", 's': "session", 'G': "groups", 'U': "uids"}
	paths := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		c := calls[name]
		var required []string
		for _, f := range c.needs {
			required = append(required, fieldOf[f])
		}
		schema := map[string]any{"type": "object", "properties": fieldSchema, "additionalProperties": false}
		if required != nil {
			schema["required"] = required
		}
		paths["/api/"+name] = map[string]any{"post": map[string]any{
			"operationId": name,
			"summary":     c.doc,
			"security":    []any{map[string]any{"bearer": []any{}}},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schema}}},
			"responses": map[string]any{
				"200":     map[string]any{"description": "the answer", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
				"default": map[string]any{"description": "an error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
			},
		}}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "Switchboard HTTP API", "version": "1"},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{"Error": map[string]any{"type": "object", "properties": map[string]any{
				"error": map[string]any{"type": "object", "properties": map[string]any{
					"code":    map[string]any{"type": "string", "enum": []string{"unauthorized", "forbidden", "unknown_call", "bad_json", "bad_request", "too_large", "client_not_found", "timeout", "internal"}},
					"message": map[string]any{"type": "string"},
				}},
			}}},
		},
	}
}

func (h *Handler) openAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, OpenAPI())
}
