//! Line items of a reconciliation export: lenient decoding of one JSON line ([`LineItem`]),
//! the running totals per customer, currency and product ([`Totals`]), and [`LineSink`], the
//! `Write` end that the gzip decoder writes into: it splits lines, decodes each and adds it up,
//! so memory holds one line and the totals, whatever the export's size.
//!
//! Lenient: unknown fields are ignored; field names are accepted in camelCase and PascalCase;
//! amounts may be numbers or strings. A line that is not JSON, lacks the customer, currency or
//! amount, or is longer than the line bound is counted as bad and skipped, never fatal.

use std::collections::HashMap;
use std::io;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::pc::lenient;

/// Most distinct (customer, currency, product) totals one export may produce.
pub const MAX_GROUPS: usize = 1_000_000;

/// The fields cspguard reads from a line item (billed or unbilled reconciliation, `full` or
/// `basic` attribute set).
#[derive(Debug, Default, Deserialize)]
pub struct LineItem {
    #[serde(default, rename = "customerTenantId", alias = "CustomerTenantId")]
    customer_tenant_id: Option<String>,
    #[serde(default, rename = "customerId", alias = "CustomerId")]
    customer_id: Option<String>,
    #[serde(default, rename = "customerName", alias = "CustomerName")]
    customer_name: Option<String>,
    #[serde(default, rename = "currency", alias = "Currency")]
    currency: Option<String>,
    #[serde(default, rename = "billingCurrency", alias = "BillingCurrency")]
    billing_currency: Option<String>,
    #[serde(
        default,
        rename = "subtotal",
        alias = "Subtotal",
        deserialize_with = "lenient::opt_decimal"
    )]
    subtotal: Option<Decimal>,
    #[serde(
        default,
        rename = "billingPreTaxTotal",
        alias = "BillingPreTaxTotal",
        deserialize_with = "lenient::opt_decimal"
    )]
    billing_pre_tax_total: Option<Decimal>,
    #[serde(default, rename = "productName", alias = "ProductName")]
    product_name: Option<String>,
    #[serde(default, rename = "productId", alias = "ProductId")]
    product_id: Option<String>,
    #[serde(default, rename = "skuName", alias = "SkuName")]
    sku_name: Option<String>,
}

fn nonblank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// One usable line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge<'a> {
    pub customer: String,
    pub customer_name: Option<&'a str>,
    pub currency: String,
    pub product: &'a str,
    pub amount: Decimal,
}

impl LineItem {
    /// The charge of this line: the customer tenant (`customerTenantId`, else `customerId`),
    /// the currency (`currency`, else `billingCurrency`), the pre-tax amount (`subtotal`, else
    /// `billingPreTaxTotal`) and the product (`productName`, `skuName`, `productId`).
    pub fn charge(&self) -> Option<Charge<'_>> {
        let customer = nonblank(&self.customer_tenant_id).or(nonblank(&self.customer_id))?;
        let currency = nonblank(&self.currency).or(nonblank(&self.billing_currency))?;
        let amount = self.subtotal.or(self.billing_pre_tax_total)?;
        let product = nonblank(&self.product_name)
            .or(nonblank(&self.sku_name))
            .or(nonblank(&self.product_id))
            .unwrap_or("(unnamed product)");
        Some(Charge {
            customer: customer.to_ascii_lowercase(),
            customer_name: nonblank(&self.customer_name),
            currency: currency.to_ascii_uppercase(),
            product,
            amount,
        })
    }
}

/// A running total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Total {
    pub amount: Decimal,
    pub lines: u64,
    pub customer_name: Option<String>,
}

/// Totals of one export by (customer, currency, product), with the line counts.
#[derive(Debug, Default)]
pub struct Totals {
    pub groups: HashMap<(String, String, String), Total>,
    pub lines: u64,
    pub bad_lines: u64,
    /// The first few reasons lines were bad (for the report).
    pub samples: Vec<String>,
}

impl Totals {
    /// Decode one line and add it up (a blank line is ignored, a bad one counted).
    pub fn add_line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        self.lines += 1;
        let item: LineItem = match serde_json::from_slice(line) {
            Ok(item) => item,
            Err(e) => return self.bad(format!("line {}: not a JSON line item: {e}", self.lines)),
        };
        let Some(c) = item.charge() else {
            return self.bad(format!(
                "line {}: no customer, currency or pre-tax amount",
                self.lines
            ));
        };
        let key = (c.customer, c.currency, c.product.to_owned());
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_GROUPS {
            return self.bad(format!(
                "line {}: more than {MAX_GROUPS} customer/currency/product totals",
                self.lines
            ));
        }
        let total = self.groups.entry(key).or_default();
        total.amount += c.amount;
        total.lines += 1;
        if total.customer_name.is_none() {
            total.customer_name = c.customer_name.map(str::to_owned);
        }
    }

    fn bad(&mut self, why: String) {
        self.bad_lines += 1;
        if self.samples.len() < 5 {
            self.samples.push(crate::redact::redact(&why));
        }
    }
}

/// The `Write` end of a gzip decoder: splits the decompressed stream into lines (each at most
/// `max_line_bytes`; a longer one is counted bad and skipped) and adds them to `totals`. Stops
/// with an error past `max_lines` lines or `max_bytes` decompressed bytes.
#[derive(Debug)]
pub struct LineSink<'t> {
    pub totals: &'t mut Totals,
    line: Vec<u8>,
    overlong: bool,
    bytes: u64,
    max_line_bytes: usize,
    max_lines: u64,
    max_bytes: u64,
}

impl<'t> LineSink<'t> {
    pub fn new(
        totals: &'t mut Totals,
        max_line_bytes: usize,
        max_lines: u64,
        max_bytes: u64,
    ) -> Self {
        Self {
            totals,
            line: Vec::with_capacity(4096),
            overlong: false,
            bytes: 0,
            max_line_bytes,
            max_lines,
            max_bytes,
        }
    }

    /// Add the last line if it did not end with a newline.
    pub fn finish(&mut self) {
        self.end_line();
    }

    fn end_line(&mut self) {
        if self.overlong {
            self.totals.lines += 1;
            let n = self.totals.lines;
            self.totals.bad(format!(
                "line {n}: longer than {} bytes",
                self.max_line_bytes
            ));
        } else if !self.line.is_empty() {
            self.totals.add_line(&self.line);
        }
        self.line.clear();
        self.overlong = false;
    }
}

impl io::Write for LineSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        if self.bytes > self.max_bytes {
            return Err(io::Error::other(format!(
                "the blob decompresses to more than {} bytes (reconciliation.max_blob_bytes)",
                self.max_bytes
            )));
        }
        let mut rest = buf;
        while !rest.is_empty() {
            let (part, newline) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            if !self.overlong {
                if self.line.len() + part.len() > self.max_line_bytes {
                    self.overlong = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(part);
                }
            }
            rest = &rest[part.len()..];
            if newline {
                rest = &rest[1..];
                self.end_line();
                if self.totals.lines > self.max_lines {
                    return Err(io::Error::other(format!(
                        "the export has more than {} line items (reconciliation.max_lines)",
                        self.max_lines
                    )));
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn lines_add_up_leniently_across_chunk_boundaries() {
        let mut totals = Totals::default();
        {
            let mut sink = LineSink::new(&mut totals, 300, 100, 1 << 20);
            let text = concat!(
                r#"{"customerId":"ABC","customerName":"A","currency":"usd","subtotal":"10.50","productName":"P","extra":1}"#,
                "\n",
                r#"{"CustomerId":"abc","BillingCurrency":"USD","BillingPreTaxTotal":2,"ProductName":"P"}"#,
                "\nnot json\n",
                r#"{"customerId":"abc"}"#,
                "\n\n",
            );
            let long = format!("{}\n", "x".repeat(400));
            for chunk in text.as_bytes().chunks(7).chain(long.as_bytes().chunks(50)) {
                sink.write_all(chunk).unwrap();
            }
            sink.write_all(br#"{"customerId":"def","currency":"EUR","subtotal":1}"#)
                .unwrap();
            sink.finish();
        }
        assert_eq!(totals.lines, 6);
        assert_eq!(totals.bad_lines, 3);
        let abc = &totals.groups[&("abc".into(), "USD".into(), "P".into())];
        assert_eq!(abc.amount, Decimal::new(1250, 2));
        assert_eq!(abc.lines, 2);
        assert_eq!(abc.customer_name.as_deref(), Some("A"));
        assert_eq!(totals.groups.len(), 2);
    }

    #[test]
    fn bounds_stop_the_stream() {
        let mut totals = Totals::default();
        let mut sink = LineSink::new(&mut totals, 300, 2, 1 << 20);
        let line = b"{\"customerId\":\"a\",\"currency\":\"USD\",\"subtotal\":1}\n";
        sink.write_all(line).unwrap();
        sink.write_all(line).unwrap();
        assert!(sink.write_all(line).is_err());
        let mut totals = Totals::default();
        let mut sink = LineSink::new(&mut totals, 300, 100, 60);
        sink.write_all(line).unwrap();
        assert!(sink.write_all(line).is_err());
    }
}
