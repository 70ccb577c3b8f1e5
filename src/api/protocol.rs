//! The EC2 Query protocol: flattened form parameters in, XML out.
//!
//! Requests are `application/x-www-form-urlencoded` pairs (body or query string) such as
//! `Action=DescribeVpcEndpoints`, `VpcEndpointId.1=vpce-...`, `Filter.1.Name=vpc-id`,
//! `Filter.1.Value.1=vpc-...`. Responses are `<ActionResponse xmlns=...>` documents whose
//! element names are the botocore model's lowerCamel `locationName`s, lists written as
//! `<xSet><item>...</item></xSet>`; errors are `<Response><Errors><Error>`.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::control::{ApiError, ErrorCode};

/// The XML namespace of EC2 API version 2016-11-15.
pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The only API version vpcesim speaks.
pub const VERSION: &str = "2016-11-15";

/// One `Filter.N`: a name and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `Filter.N.Name`.
    pub name: String,
    /// `Filter.N.Value.M`, in M order.
    pub values: Vec<String>,
}

/// The parameters of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: IndexMap<String, String>,
}

impl Params {
    /// Parses the query string and the form body; a key in both takes the body's value.
    pub fn parse(query: &str, body: &[u8]) -> Self {
        let mut map = IndexMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body)) {
            map.insert(k.into_owned(), v.into_owned());
        }
        Self { map }
    }

    /// Every parameter's value, in the request's order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        self.map.values().map(String::as_str)
    }

    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// A parameter that must be there: `MissingParameter` otherwise.
    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingParameter,
                format!("The request must contain the parameter {key}"),
            )
        })
    }

    /// A boolean parameter (`true`/`false`, any case).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(invalid_value(key, v)),
        }
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| invalid_value(key, v)))
            .transpose()
    }

    /// The list `prefix.1`, `prefix.2`, ... in index order (indexes need not be dense).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut items: BTreeMap<u32, String> = BTreeMap::new();
        for (k, v) in &self.map {
            if let Some(n) = k
                .strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('.'))
                .and_then(|r| r.parse::<u32>().ok())
            {
                items.insert(n, v.clone());
            }
        }
        items.into_values().collect()
    }

    /// The indexes N for which some `prefix.N.…` key exists, in order.
    fn indexes(&self, prefix: &str) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .map
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                let (n, _) = rest.split_once('.')?;
                n.parse().ok()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Every `Filter.N` (`Filter.N.Name`, `Filter.N.Value.M`).
    pub fn filters(&self) -> Result<Vec<Filter>, ApiError> {
        self.indexes("Filter")
            .into_iter()
            .map(|n| {
                let name = self.required(&format!("Filter.{n}.Name"))?.to_string();
                let values = self.list(&format!("Filter.{n}.Value"));
                Ok(Filter { name, values })
            })
            .collect()
    }

    /// `prefix.N.Key` / `prefix.N.Value` pairs (`Tag.N`, `TagSpecification.1.Tag.N`);
    /// a missing value is `None`.
    pub fn tags(&self, prefix: &str) -> Vec<(String, Option<String>)> {
        self.indexes(prefix)
            .into_iter()
            .filter_map(|n| {
                let key = self.get(&format!("{prefix}.{n}.Key"))?.to_string();
                let value = self.get(&format!("{prefix}.{n}.Value")).map(str::to_string);
                Some((key, value))
            })
            .collect()
    }

    /// The tags of every `TagSpecification.N` whose `ResourceType` is `resource_type`.
    pub fn tag_specifications(
        &self,
        resource_type: &str,
    ) -> Result<IndexMap<String, String>, ApiError> {
        let mut out = IndexMap::new();
        for n in self.indexes("TagSpecification") {
            let kind = self.required(&format!("TagSpecification.{n}.ResourceType"))?;
            if kind != resource_type {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "'{kind}' is not a valid taggable resource type for this operation; expected '{resource_type}'"
                    ),
                ));
            }
            for (k, v) in self.tags(&format!("TagSpecification.{n}.Tag")) {
                out.insert(k, v.unwrap_or_default());
            }
        }
        Ok(out)
    }
}

fn invalid_value(key: &str, value: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidParameterValue,
        format!("Value ({value}) for parameter {key} is invalid"),
    )
}

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

    /// `<name>text</name>`, escaped.
    pub fn text(&mut self, name: &str, text: &str) {
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

    #[test]
    fn flattened_lists_filters_and_tags() {
        let body = b"Action=CreateVpcEndpoint&SubnetId.2=subnet-b&SubnetId.1=subnet-a&SubnetId.10=subnet-j\
&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.1.Value.2=vpc-2&Filter.2.Name=tag%3AName&Filter.2.Value.1=a%20b\
&TagSpecification.1.ResourceType=vpc-endpoint&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=x";
        let p = Params::parse("Version=2016-11-15", body);
        assert_eq!(p.get("Action"), Some("CreateVpcEndpoint"));
        assert_eq!(p.get("Version"), Some("2016-11-15"));
        assert_eq!(p.list("SubnetId"), ["subnet-a", "subnet-b", "subnet-j"]);
        let f = p.filters().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].values, ["vpc-1", "vpc-2"]);
        assert_eq!(f[1].name, "tag:Name");
        assert_eq!(f[1].values, ["a b"]);
        assert_eq!(p.tag_specifications("vpc-endpoint").unwrap()["Name"], "x");
        assert_eq!(
            p.tag_specifications("vpc").unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            p.required("VpcId").unwrap_err().code,
            ErrorCode::MissingParameter
        );
        let bad = Params::parse("", b"DryRun=maybe&Filter.1.Value.1=x");
        assert_eq!(
            bad.bool("DryRun").unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(bad.filters().unwrap_err().code, ErrorCode::MissingParameter);
    }

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
