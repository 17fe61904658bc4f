//! Content scanners the rules call from SQL, where a regular expression in
//! the rule would be unreadable or would print what it matched:
//!
//! - `secret_scan(text)`: credentials, as `{class, offset, fingerprint}`
//!   (the same shapes and fingerprint the recorder masks argv with), never
//!   the value;
//! - `injection_markers(text)`: prompt-injection markers, as `{class,
//!   offset, count}`: one entry per class with its first offset.
//!
//! Both return a list, empty when nothing is found; `unnest` gives one row
//! per hit.

use std::sync::Arc;

use agentsight_decode::markers::injection_markers;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ListBuilder, StringBuilder, StructBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(Scanner::new(ScanKind::Secrets)));
    ctx.register_udf(ScalarUDF::from(Scanner::new(ScanKind::Injection)));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ScanKind {
    Secrets,
    Injection,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Scanner {
    kind: ScanKind,
    signature: Signature,
}

impl Scanner {
    fn new(kind: ScanKind) -> Self {
        Scanner {
            kind,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    fn fields(&self) -> Fields {
        let third = match self.kind {
            ScanKind::Secrets => Field::new("fingerprint", DataType::Utf8, false),
            ScanKind::Injection => Field::new("count", DataType::UInt64, false),
        };
        Fields::from(vec![
            Field::new("class", DataType::Utf8, false),
            Field::new("offset", DataType::UInt64, false),
            third,
        ])
    }
}

impl ScalarUDFImpl for Scanner {
    fn name(&self) -> &str {
        match self.kind {
            ScanKind::Secrets => "secret_scan",
            ScanKind::Injection => "injection_markers",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !matches!(
            args[0],
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ) && !matches!(
            args[0],
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView
        ) {
            return plan_err!("{}: expects text or bytes, got {}", self.name(), args[0]);
        }
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(self.fields()),
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        // Bytes (request bodies) are scanned as their UTF-8 text, invalid
        // bytes as `\xNN`: offsets then refer to `bytes_text(...)`.
        let text = match arrays[0].data_type() {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                let b = datafusion::arrow::compute::cast(&arrays[0], &DataType::Binary)?;
                let mut sb = StringBuilder::new();
                for v in b.as_binary::<i32>().iter() {
                    sb.append_option(v.map(crate::udf::bytes_text));
                }
                Arc::new(sb.finish()) as ArrayRef
            }
            _ => datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?,
        };
        let text = text.as_string::<i32>();
        let fields = self.fields();
        let mut list = ListBuilder::new(StructBuilder::from_fields(fields.clone(), 0))
            .with_field(Arc::new(Field::new("item", DataType::Struct(fields), true)));
        for v in text.iter() {
            let s = list.values();
            for (class, offset, third) in hits(self.kind, v.unwrap_or("")) {
                s.field_builder::<StringBuilder>(0)
                    .expect("class")
                    .append_value(class);
                s.field_builder::<UInt64Builder>(1)
                    .expect("offset")
                    .append_value(offset as u64);
                match third {
                    Third::Fingerprint(f) => s
                        .field_builder::<StringBuilder>(2)
                        .expect("fingerprint")
                        .append_value(f),
                    Third::Count(n) => s
                        .field_builder::<UInt64Builder>(2)
                        .expect("count")
                        .append_value(n as u64),
                }
                s.append(true);
            }
            list.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(list.finish())))
    }
}

enum Third {
    Fingerprint(String),
    Count(usize),
}

fn hits(kind: ScanKind, text: &str) -> Vec<(&'static str, usize, Third)> {
    match kind {
        ScanKind::Secrets => agentsight_redact::find_secrets(text)
            .into_iter()
            .map(|h| (h.class, h.offset, Third::Fingerprint(h.fingerprint)))
            .collect(),
        ScanKind::Injection => injection_markers(text)
            .into_iter()
            .map(|m| (m.class, m.offset, Third::Count(m.count)))
            .collect(),
    }
}
