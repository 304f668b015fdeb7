//! The JSON-RPC 2.0 messages of MCP this server answers: `initialize` (with version
//! negotiation), `ping`, `tools/list` and `tools/call`; notifications are taken and not
//! answered; anything else is a JSON-RPC error.

use portcullis_sdk::Identity;
use serde_json::{Value, json};

/// Protocol versions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// JSON-RPC 2.0 error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// The answer to one message from `identity`, or `None` for a notification or a response.
pub fn answer(identity: &Identity, body: &[u8]) -> Option<Value> {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return Some(error(Value::Null, PARSE_ERROR, "not JSON"));
    };
    // Batches were removed in 2025-06-18; a message is one object.
    let Some(object) = message.as_object() else {
        return Some(error(Value::Null, INVALID_REQUEST, "one JSON-RPC object"));
    };
    let id = object.get("id")?.clone();
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        // A response to a request of ours (we send none): taken, not answered.
        return None;
    };
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    Some(match method {
        "initialize" => result(id, initialize(&params)),
        "ping" => result(id, json!({})),
        "tools/list" => result(id, json!({ "tools": tools() })),
        "tools/call" => match call_tool(identity, &params) {
            Some(outcome) => result(id, outcome),
            None => error(id, INVALID_PARAMS, "unknown tool"),
        },
        _ => error(id, METHOD_NOT_FOUND, "method not found"),
    })
}

/// Lifecycle §"Version Negotiation": the client's version if spoken here, else the newest.
fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|version| **version == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "portcullis-example-mcp", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "The Portcullis demo shop: ask who is signed in, or list the products.",
    })
}

fn tools() -> Value {
    let no_arguments = json!({ "type": "object", "properties": {}, "additionalProperties": false });
    json!([
        {
            "name": "whoami",
            "description": "Who is signed in, and through which application.",
            "inputSchema": no_arguments,
        },
        {
            "name": "list_products",
            "description": "The shop's products (needs the scope products:read).",
            "inputSchema": no_arguments,
        },
    ])
}

/// The outcome of a tool (an error the model can read, such as a missing scope, is a result
/// with `isError`), or `None` for a tool that does not exist.
fn call_tool(identity: &Identity, params: &Value) -> Option<Value> {
    let text = match params["name"].as_str()? {
        "whoami" => Ok(format!(
            "You are {} (subject {}), signed in through the application {}.",
            identity
                .username
                .as_deref()
                .unwrap_or("a client acting for itself"),
            identity.subject,
            identity.client_id
        )),
        "list_products" => identity
            .require_scope("products:read")
            .map(|()| products_service::products().to_string())
            .map_err(|_| "this token lacks the scope products:read".to_owned()),
        _ => return None,
    };
    Some(match text {
        Ok(text) => json!({ "content": [{ "type": "text", "text": text }], "isError": false }),
        Err(text) => json!({ "content": [{ "type": "text", "text": text }], "isError": true }),
    })
}

fn result(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            issuer: "http://127.0.0.1:3000".into(),
            subject: "u-1".into(),
            username: Some("alice".into()),
            client_id: "dyn-agent".into(),
            scopes: vec!["offline_access".into()],
            roles: vec![],
            audiences: vec!["http://127.0.0.1:4000/mcp".into()],
            token_id: None,
            session_id: None,
            expires_at: 0,
            claims: serde_json::Map::new(),
        }
    }

    fn ask(message: Value) -> Option<Value> {
        answer(&alice(), message.to_string().as_bytes())
    }

    #[test]
    fn initialize_negotiates_the_version() {
        let known = ask(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}}}))
        .expect("answer");
        assert_eq!(known["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(known["id"], 1);
        let unknown = ask(json!({"jsonrpc": "2.0", "id": "a", "method": "initialize",
            "params": {"protocolVersion": "1999-01-01"}}))
        .expect("answer");
        assert_eq!(unknown["result"]["protocolVersion"], PROTOCOL_VERSIONS[0]);
    }

    #[test]
    fn tools_answer_for_the_signed_in_user_within_their_scopes() {
        let listed = ask(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).expect("list");
        assert_eq!(listed["result"]["tools"][0]["name"], "whoami");
        let whoami = ask(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}}}))
        .expect("call");
        let text = whoami["result"]["content"][0]["text"]
            .as_str()
            .expect("text");
        assert!(
            text.contains("alice") && text.contains("dyn-agent"),
            "{text}"
        );
        let products = ask(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "list_products"}}))
        .expect("call");
        assert_eq!(products["result"]["isError"], true, "no products:read");
        let unknown = ask(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "rm"}}))
        .expect("call");
        assert_eq!(unknown["error"]["code"], INVALID_PARAMS);
    }

    #[test]
    fn notifications_are_not_answered_and_bad_messages_are_errors() {
        assert!(ask(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).is_none());
        assert_eq!(
            answer(&alice(), b"{").expect("error")["error"]["code"],
            PARSE_ERROR
        );
        assert_eq!(
            ask(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])).expect("error")["error"]["code"],
            INVALID_REQUEST
        );
        assert_eq!(
            ask(json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/x"})).expect("error")["error"]
                ["code"],
            METHOD_NOT_FOUND
        );
    }
}
