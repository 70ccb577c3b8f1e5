//! The EC2 Query protocol: flattened form parameters in, XML out.
//!
//! Requests are `application/x-www-form-urlencoded` pairs (body or query string) such as
//! `Action=DescribeVpcEndpoints`, `VpcEndpointId.1=vpce-...`, `Filter.1.Name=vpc-id`,
//! `Filter.1.Value.1=vpc-...`. Responses are `<ActionResponse xmlns=...>` documents whose
//! element names are the botocore model's lowerCamel `locationName`s, lists written as
//! `<xSet><item>...</item></xSet>`; errors are `<Response><Errors><Error>`.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

pub use super::params::{
    Filter, MAX_FILTER_VALUES, MAX_FILTERS, MAX_LIST_ITEMS, MAX_PARAMETERS, Params, forbidden_char,
    is_xml_char, printable,
};
use crate::control::ApiError;

/// The XML namespace of EC2 API version 2016-11-15.
pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The only API version vpcesim speaks.
pub const VERSION: &str = "2016-11-15";

/// Writes the body of a response: nested elements with text.
pub struct Xml {
    writer: Writer<Vec<u8>>,
}

impl std::fmt::Debug for Xml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xml").finish_non_exhaustive()
    }
}

impl Default for Xml {
    fn default() -> Self {
        Self::new()
    }
}

impl Xml {
    /// An empty document body.
    pub fn new() -> Self {
        Self {
            writer: Writer::new(Vec::new()),
        }
    }

    /// The body written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.writer.get_ref()
    }

    fn event(&mut self, event: Event<'_>) {
        // Writing into a Vec cannot fail.
        let _ = self.writer.write_event(event);
    }

    /// `<name>` ... `</name>` around what `inner` writes.
    pub fn elem(&mut self, name: &str, inner: impl FnOnce(&mut Self)) {
        self.event(Event::Start(BytesStart::new(name)));
        inner(self);
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name>text</name>`, escaped. A character XML forbids (which input checks keep
    /// out, but a scenario file may hold) is written as U+FFFD, so that the document
    /// stays well-formed whatever the model holds.
    pub fn text(&mut self, name: &str, text: &str) {
        let safe;
        let text = if forbidden_char(text).is_some() {
            safe = printable(text);
            safe.as_str()
        } else {
            text
        };
        self.elem(name, |x| x.event(Event::Text(BytesText::new(text))));
    }

    /// `<name>text</name>` when there is a value.
    pub fn opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, text);
        }
    }

    /// `<name>true</name>` or `false`.
    pub fn bool(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    /// `<name><item>..</item>...</name>`, each item written by `each`.
    pub fn set<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Self, T),
    ) {
        self.elem(name, |x| {
            for item in items {
                x.elem("item", |x| each(x, item));
            }
        });
    }

    /// `<name><item>s</item>...</name>` for a list of strings.
    pub fn strings<S: AsRef<str>>(&mut self, name: &str, items: impl IntoIterator<Item = S>) {
        self.elem(name, |x| {
            for item in items {
                x.text("item", item.as_ref());
            }
        });
    }

    /// `<tagSet>` of key/value pairs.
    pub fn tag_set<'a>(&mut self, tags: impl IntoIterator<Item = (&'a String, &'a String)>) {
        self.set("tagSet", tags, |x, (k, v)| {
            x.text("key", k);
            x.text("value", v);
        });
    }

    fn into_bytes(self) -> Vec<u8> {
        self.writer.into_inner()
    }
}

fn declaration(writer: &mut Writer<Vec<u8>>) {
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
}

/// The document `<{action}Response xmlns=...><requestId>..</requestId>{body}</...>`.
pub fn response(action: &str, request_id: &str, body: Xml) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new());
    declaration(&mut writer);
    let root = format!("{action}Response");
    let mut start = BytesStart::new(root.as_str());
    start.push_attribute(("xmlns", XMLNS));
    let _ = writer.write_event(Event::Start(start));
    let mut id = Xml::new();
    id.text("requestId", request_id);
    let mut bytes = writer.into_inner();
    bytes.extend(id.into_bytes());
    bytes.extend(body.into_bytes());
    let mut writer = Writer::new(bytes);
    let _ = writer.write_event(Event::End(BytesEnd::new(root.as_str())));
    writer.into_inner()
}

/// EC2's error document: `<Response><Errors><Error><Code>`, `<Message>`, `<RequestID>`.
pub fn error_document(error: &ApiError, request_id: &str) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new());
    declaration(&mut writer);
    let mut x = Xml { writer };
    x.elem("Response", |x| {
        x.elem("Errors", |x| {
            x.elem("Error", |x| {
                x.text("Code", error.code.as_str());
                x.text("Message", &error.message);
            });
        });
        x.text("RequestID", request_id);
    });
    x.into_bytes()
}

/// Whether `value` matches an EC2 filter pattern, where `*` matches any run of
/// characters and `?` any one character.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ErrorCode;

    #[test]
    fn documents_have_the_ec2_shape() {
        let mut body = Xml::new();
        body.strings("subnetIdSet", ["a<b", "c"]);
        body.bool("return", true);
        let doc = String::from_utf8(response("ModifyVpcEndpoint", "rid", body)).unwrap();
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ModifyVpcEndpointResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>rid</requestId><subnetIdSet><item>a&lt;b</item><item>c</item></subnetIdSet><return>true</return></ModifyVpcEndpointResponse>"
        );
        let err = ApiError::new(ErrorCode::MissingParameter, "no VpcId");
        let doc = String::from_utf8(error_document(&err, "rid")).unwrap();
        assert!(doc.ends_with("<Response><Errors><Error><Code>MissingParameter</Code><Message>no VpcId</Message></Error></Errors><RequestID>rid</RequestID></Response>"), "{doc}");
    }

    #[test]
    fn forbidden_characters_never_reach_a_document() {
        let mut body = Xml::new();
        body.text("value", "a\u{0}b\u{1}c\u{FFFE}\u{FFFF}\td");
        let doc = String::from_utf8(response("X", "rid", body)).unwrap();
        assert!(
            doc.contains("<value>a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}\td</value>"),
            "{doc}"
        );
        let err = ApiError::new(ErrorCode::InvalidParameterValue, "bad \u{1}");
        let doc = String::from_utf8(error_document(&err, "rid")).unwrap();
        assert!(doc.chars().all(is_xml_char), "{doc:?}");
    }

    #[test]
    fn filter_patterns() {
        assert!(glob(
            "com.amazonaws.*.kinesis-streams",
            "com.amazonaws.us-east-1.kinesis-streams"
        ));
        assert!(glob("vpc-?c43eb89", "vpc-ec43eb89"));
        assert!(glob("*", ""));
        assert!(!glob("vpc-1", "vpc-12"));
        assert!(!glob("a*b", "a-c"));
    }
}
