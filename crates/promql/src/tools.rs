//! What the API offers about a query besides running it: formatting it, its syntax
//! tree, and the series selectors it uses.

use promql_parser::parser::Expr;
use tsdb::Matcher;

use crate::Error;
use crate::selector::selector_matchers;

/// The query, formatted the way Prometheus's `/api/v1/format_query` does.
pub fn format_query(query: &str) -> Result<String, Error> {
    Ok(crate::parse(query)?.prettify())
}

/// The query's syntax tree as JSON, for `/api/v1/parse_query`.
pub fn syntax_tree(query: &str) -> Result<serde_json::Value, Error> {
    let expr = crate::parse(query)?;
    serde_json::to_value(&expr).map_err(|err| Error::BadQuery(err.to_string()))
}

/// The matcher alternatives of every selector in the query (for exemplar lookups).
pub fn selectors(query: &str) -> Result<Vec<Vec<Matcher>>, Error> {
    let expr = crate::parse(query)?;
    let mut out = Vec::new();
    collect(&expr, &mut out)?;
    Ok(out)
}

fn collect(expr: &Expr, out: &mut Vec<Vec<Matcher>>) -> Result<(), Error> {
    match expr {
        Expr::VectorSelector(selector) => {
            out.extend(selector_matchers(selector).map_err(Error::BadQuery)?);
        }
        Expr::MatrixSelector(matrix) => {
            out.extend(selector_matchers(&matrix.vs).map_err(Error::BadQuery)?);
        }
        Expr::Aggregate(aggregate) => {
            collect(&aggregate.expr, out)?;
            if let Some(param) = &aggregate.param {
                collect(param, out)?;
            }
        }
        Expr::Unary(unary) => collect(&unary.expr, out)?,
        Expr::Binary(binary) => {
            collect(&binary.lhs, out)?;
            collect(&binary.rhs, out)?;
        }
        Expr::Paren(paren) => collect(&paren.expr, out)?,
        Expr::Subquery(subquery) => collect(&subquery.expr, out)?,
        Expr::Call(call) => {
            for arg in &call.args.args {
                collect(arg, out)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_lists_selectors() {
        assert_eq!(
            format_query("sum(rate(http_requests_total{job=\"api\"}[5m]))by(code)").expect("valid"),
            "sum by (code) (rate(http_requests_total{job=\"api\"}[5m]))"
        );
        let found = selectors("rate(a[5m]) / on() b{x=\"1\"}").expect("valid");
        let shown: Vec<String> = found
            .iter()
            .map(|m| {
                m.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(shown, [r#"__name__="a""#, r#"__name__="b",x="1""#]);
        assert!(format_query("sum(").is_err());
    }

    #[test]
    fn syntax_tree_names_node_types() {
        let tree = syntax_tree("up{job=\"api\"}").expect("valid");
        assert_eq!(tree["type"], "vectorSelector");
        assert_eq!(tree["name"], "up");
    }
}
