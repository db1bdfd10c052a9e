//! EC2 replies are small and flat, so they are written directly rather than through a serde
//! model: element order is the order EC2 uses, and escaping goes through quick-xml.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::AwsError;
use crate::xml_text::xml_text;

pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// Starts `<{Action}Response xmlns=…>` with `<requestId>` as its first child.
    pub fn response(action: &str, request_id: &str) -> Self {
        let mut writer = XmlWriter {
            out: String::with_capacity(1024),
        };
        writer
            .out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        writer.out.push('<');
        writer.out.push_str(action);
        writer.out.push_str("Response xmlns=\"");
        writer.out.push_str(NAMESPACE);
        writer.out.push_str("\">");
        writer.leaf("requestId", request_id);
        writer
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        if text.is_empty() {
            return self.empty(name);
        }
        self.open(name);
        self.out.push_str(&xml_text(text));
        self.close(name)
    }

    pub fn empty(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
        self
    }

    /// A `<name>` list of `<item>`s, or `<name/>` when empty, the way EC2 writes sets.
    pub fn set<T>(
        &mut self,
        name: &'static str,
        items: &[T],
        mut item: impl FnMut(&mut Self, &T),
    ) -> &mut Self {
        let mut set = self.streamed_set(name);
        for each in items {
            set.item(|xml| item(xml, each));
        }
        set.finish();
        self
    }

    /// A set whose items are written as they arrive (from a store read that streams), without
    /// knowing beforehand whether there will be any.
    pub fn streamed_set(&mut self, name: &'static str) -> StreamedSet<'_> {
        StreamedSet {
            xml: self,
            name,
            items: 0,
        }
    }

    pub fn finish(mut self, action: &str) -> String {
        self.out.push_str("</");
        self.out.push_str(action);
        self.out.push_str("Response>");
        self.out
    }
}

/// See [`XmlWriter::streamed_set`]: `<name>` goes out before the first item, and a set that
/// got none is written `<name/>` when finished.
pub struct StreamedSet<'a> {
    xml: &'a mut XmlWriter,
    name: &'static str,
    items: usize,
}

impl StreamedSet<'_> {
    pub fn item(&mut self, write: impl FnOnce(&mut XmlWriter)) {
        if self.items == 0 {
            self.xml.open(self.name);
        }
        self.items += 1;
        self.xml.open("item");
        write(self.xml);
        self.xml.close("item");
    }

    pub fn finish(self) {
        if self.items == 0 {
            self.xml.empty(self.name);
        } else {
            self.xml.close(self.name);
        }
    }
}

/// The error envelope; note `RequestID` in capitals, unlike success bodies.
pub fn error_body(error: &AwsError, request_id: &str) -> String {
    let (code, _) = error.code.wire();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
        code,
        xml_text(&error.message),
        request_id
    )
}

/// `2026-11-22T11:37:26.000Z`: always three fraction digits, always `Z`.
pub fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let whole = at.replace_nanosecond(0).unwrap_or(at);
    let text = whole.format(&Rfc3339).unwrap_or_default();
    let millis = at.millisecond();
    format!("{}.{millis:03}Z", text.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::error::Code;
    use time::macros::datetime;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(
            timestamp(datetime!(2026-11-22 11:37:26.042 UTC)),
            "2026-11-22T11:37:26.042Z"
        );
        assert_eq!(
            timestamp(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05.000Z"
        );
    }

    #[test]
    fn writes_sets_and_escapes() {
        let mut w = XmlWriter::response("DescribeKeyPairs", "r-1");
        w.set("keySet", &[] as &[u8], |_, _| {});
        w.set("tagSet", &["a<b"], |w, t| {
            w.leaf("key", t);
        });
        assert_eq!(
            w.finish("DescribeKeyPairs"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeKeyPairsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><keySet/><tagSet><item><key>a&lt;b</key></item></tagSet></DescribeKeyPairsResponse>"
        );
    }

    #[test]
    fn unrepresentable_characters_are_replaced() {
        let mut w = XmlWriter::response("X", "r");
        w.leaf("v", "a\u{1}b\tc\"d'e");
        assert!(w.finish("X").contains("<v>a\u{fffd}b\tc\"d'e</v>"));
    }

    #[test]
    fn error_envelope_shape() {
        let err = AwsError::new(Code::KeyPairDuplicate, "The keypair 'k&' already exists.");
        assert_eq!(
            error_body(&err, "req"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidKeyPair.Duplicate</Code><Message>The keypair 'k&amp;' already exists.</Message></Error></Errors><RequestID>req</RequestID></Response>"
        );
    }
}
