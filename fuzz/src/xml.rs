//! A strict reading of an XML document into a small tree, for checking API answers: a
//! document that a client's XML parser would reject is an error here too.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One element: its name, attributes, child elements and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The text directly inside it, entities resolved.
    pub text: String,
}

impl Element {
    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `c` may appear in an XML 1.0 document (the `Char` production).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Parses `bytes` as one well-formed XML 1.0 document in UTF-8 and returns its root.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| !is_xml_char(c)) {
        return Err(format!(
            "character {c:?} at byte {at} is not allowed in XML"
        ));
    }
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                let mut element = Element {
                    name: start.name().as_ref().to_string(),
                    ..Element::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| format!("attribute: {e}"))?;
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| format!("attribute value: {e}"))?;
                    element
                        .attributes
                        .push((attribute.key.as_ref().to_string(), value.into_owned()));
                }
                if empty {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("an end tag with no start")?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let t: &str = &t;
                match stack.last_mut() {
                    Some(parent) => parent.text.push_str(t),
                    None if t.trim().is_empty() => {}
                    None => return Err(format!("text outside the root element: {t:?}")),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) if is_xml_char(c) => c.to_string(),
                    Some(c) => return Err(format!("character reference to {c:?}")),
                    None => match &*r {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => return Err(format!("undefined entity &{other};")),
                    }
                    .to_string(),
                };
                stack
                    .last_mut()
                    .ok_or("a reference outside the root element")?
                    .text
                    .push_str(&resolved);
            }
            Event::CData(c) => {
                let c: &str = &c;
                stack
                    .last_mut()
                    .ok_or("CDATA outside the root element")?
                    .text
                    .push_str(c);
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err("a DOCTYPE in an API answer".into()),
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{}> is never closed", open.name));
    }
    root.ok_or_else(|| "no root element".into())
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_and_entities() {
        let doc =
            parse(b"<?xml version=\"1.0\"?><a x=\"1&amp;2\"><b>t&lt;u&#65;</b><c/></a>").unwrap();
        assert_eq!(doc.name, "a");
        assert_eq!(doc.attribute("x"), Some("1&2"));
        assert_eq!(doc.child("b").unwrap().text, "t<uA");
        assert!(doc.child("c").is_some());
    }

    #[test]
    fn rejects_what_clients_reject() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"<a/><b/>").is_err());
        assert!(parse(b"<a>\x01</a>").is_err());
        assert!(parse(b"<a>&#1;</a>").is_err());
        assert!(parse(b"<a>&nope;</a>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<a>\xff</a>").is_err());
    }
}
