//! ECS replies in both of its formats from one description. Every action builds a [`Node`] tree
//! once; [`Format`] decides whether it becomes JSON or XML, so the two can never disagree on a
//! field.
//!
//! ECS lists are wrapped twice: `"KeyPairs":{"KeyPair":[…]}` in JSON, and
//! `<KeyPairs><KeyPair>…</KeyPair><KeyPair>…</KeyPair></KeyPairs>` in XML. [`Node::List`] holds the
//! item element name for that reason.

use crate::xml_text::xml_text;
use http::HeaderMap;

pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";
pub const XML_CONTENT_TYPE: &str = "text/xml;charset=utf-8";

/// The reply format a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `Format=JSON` (any case) asks for JSON; V3 requests send no `Format` but an
    /// `Accept: application/json`. Anything else gets ECS's default, XML.
    pub fn of(format_param: Option<&str>, headers: &HeaderMap) -> Format {
        match format_param {
            Some(value) if value.eq_ignore_ascii_case("json") => Format::Json,
            Some(value) if value.eq_ignore_ascii_case("xml") => Format::Xml,
            _ => {
                let accepts_json = headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|accept| accept.contains("application/json"));
                if accepts_json {
                    Format::Json
                } else {
                    Format::Xml
                }
            }
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON_CONTENT_TYPE,
            Format::Xml => XML_CONTENT_TYPE,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Int(i64),
    Object(Vec<(&'static str, Node)>),
    /// Items, each rendered as an element named by the first field.
    List(&'static str, Vec<Node>),
    /// A value whose names are data (ActionTrail's request parameters and events): JSON as
    /// is; in XML an object's members become elements, and a list repeats its parent element.
    Json(serde_json::Value),
}

impl Node {
    pub fn text(value: impl Into<String>) -> Node {
        Node::Text(value.into())
    }
}

/// Renders a whole reply: in XML the root element is `root` (e.g. `CreateKeyPairResponse`,
/// or `Error`); JSON has no root name.
pub fn render(format: Format, root: &str, fields: &[(&'static str, Node)]) -> String {
    let mut out = String::with_capacity(512);
    match format {
        Format::Json => json_object(fields, &mut out),
        Format::Xml => {
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            xml_element(root, &Node::Object(fields.to_vec()), &mut out);
        }
    }
    out
}

fn json_node(node: &Node, out: &mut String) {
    match node {
        Node::Text(text) => json_string(text, out),
        Node::Int(n) => out.push_str(&n.to_string()),
        Node::Object(fields) => json_object(fields, out),
        Node::List(item, items) => {
            out.push_str("{\"");
            out.push_str(item);
            out.push_str("\":[");
            for (i, value) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_node(value, out);
            }
            out.push_str("]}");
        }
        Node::Json(value) => out.push_str(&value.to_string()),
    }
}

fn json_object(fields: &[(&'static str, Node)], out: &mut String) {
    out.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(name, out);
        out.push(':');
        json_node(value, out);
    }
    out.push('}');
}

fn json_string(text: &str, out: &mut String) {
    // serde_json's escaping is the reference one; a &str always serialises.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()));
}

fn xml_element(name: &str, node: &Node, out: &mut String) {
    if let Node::Json(value) = node {
        xml_json(name, value, out);
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    match node {
        Node::Text(text) => out.push_str(&xml_text(text.as_str())),
        Node::Int(n) => out.push_str(&n.to_string()),
        Node::Object(fields) => {
            for (field, value) in fields {
                xml_element(field, value, out);
            }
        }
        Node::List(item, items) => {
            for value in items {
                xml_element(item, value, out);
            }
        }
        Node::Json(_) => {}
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn xml_json(name: &str, value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    if let Value::Array(items) = value {
        for item in items {
            xml_json(name, item, out);
        }
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Null | Value::Array(_) => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(text) => out.push_str(&xml_text(text.as_str())),
        Value::Object(members) => {
            for (member, value) in members {
                xml_json(&xml_name(member), value, out);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// A member name as an XML element name: characters a name cannot hold become `_`, and a
/// name that cannot start as it does gets a leading `_` (names here are a caller's
/// parameter names, any text).
fn xml_name(member: &str) -> String {
    let mut name: String = member
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(&'static str, Node)> {
        vec![
            ("RequestId", Node::text("R")),
            ("TotalCount", Node::Int(2)),
            (
                "KeyPairs",
                Node::List(
                    "KeyPair",
                    vec![
                        Node::Object(vec![
                            ("KeyPairName", Node::text("a<b")),
                            ("Tags", Node::List("Tag", vec![])),
                        ]),
                        Node::Object(vec![("KeyPairName", Node::text("c\"d"))]),
                    ],
                ),
            ),
        ]
    }

    #[test]
    fn json_wraps_lists_in_an_item_object() {
        assert_eq!(
            render(Format::Json, "X", &sample()),
            r#"{"RequestId":"R","TotalCount":2,"KeyPairs":{"KeyPair":[{"KeyPairName":"a<b","Tags":{"Tag":[]}},{"KeyPairName":"c\"d"}]}}"#
        );
    }

    #[test]
    fn xml_repeats_the_item_element() {
        assert_eq!(
            render(Format::Xml, "DescribeKeyPairsResponse", &sample()),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DescribeKeyPairsResponse><RequestId>R</RequestId>\
             <TotalCount>2</TotalCount><KeyPairs><KeyPair><KeyPairName>a&lt;b</KeyPairName><Tags></Tags>\
             </KeyPair><KeyPair><KeyPairName>c\"d</KeyPairName></KeyPair></KeyPairs></DescribeKeyPairsResponse>"
        );
    }

    #[test]
    fn json_values_render_as_is_and_as_elements() {
        let events = Node::Json(serde_json::json!([
            {"eventId": "a", "requestParameters": {"Key<Name": "x&y", "1st": 2}},
            {"eventId": "b", "flag": true, "none": null}
        ]));
        let fields = vec![("Events", events)];
        assert_eq!(
            render(Format::Json, "R", &fields),
            r#"{"Events":[{"eventId":"a","requestParameters":{"1st":2,"Key<Name":"x&y"}},{"eventId":"b","flag":true,"none":null}]}"#
        );
        assert_eq!(
            render(Format::Xml, "R", &fields),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><R><Events><eventId>a</eventId>\
             <requestParameters><_1st>2</_1st><Key_Name>x&amp;y</Key_Name></requestParameters>\
             </Events><Events><eventId>b</eventId><flag>true</flag><none></none></Events></R>"
        );
    }

    #[test]
    fn format_follows_the_parameter_then_accept() {
        let mut json_accept = HeaderMap::new();
        json_accept.insert(http::header::ACCEPT, "application/json".parse().unwrap());
        let none = HeaderMap::new();
        assert_eq!(Format::of(Some("JSON"), &none), Format::Json);
        assert_eq!(Format::of(Some("json"), &none), Format::Json);
        assert_eq!(Format::of(Some("XML"), &json_accept), Format::Xml);
        assert_eq!(Format::of(None, &json_accept), Format::Json);
        assert_eq!(Format::of(None, &none), Format::Xml);
        assert_eq!(Format::of(Some("yaml"), &none), Format::Xml);
    }
}
