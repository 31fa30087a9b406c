// Package httpapi is the Gateway API over HTTP, for backends that do not
// speak NATS (GatewayWorker's GatewayClient, Centrifugo's server API):
//
//	POST /api/<call>   JSON body, JSON answer
//
// e.g. POST /api/send_to_group {"group":"lobby","data":"hello"}. Every
// call of bus.Client exists (see Calls). Requests carry a bearer token;
// each token may be limited to a list of calls. Errors are JSON with a
// stable code: {"error":{"code":"forbidden","message":"..."}}. The OpenAPI
// 3 document is served at /api/openapi.json.
package httpapi
