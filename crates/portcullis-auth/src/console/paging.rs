//! The search form and the "next page" link that the console's lists share.

use crate::pages::escape;
use serde::Deserialize;

/// Rows on one page of a console list.
pub(super) const PAGE: u32 = 25;

/// The query of a list: what to search for and the cursor (`after` for lists by name, `before`
/// with `before_sid` for the newest-first session list).
#[derive(Deserialize)]
pub(super) struct Search {
    pub(super) search: Option<String>,
    pub(super) after: Option<String>,
    pub(super) before: Option<i64>,
    pub(super) before_sid: Option<String>,
}

impl Search {
    /// The search text, if not empty.
    pub(super) fn text(&self) -> Option<String> {
        self.search.clone().filter(|text| !text.trim().is_empty())
    }
}

/// A `GET` search form for `action`: one field `search`, labelled `label`, holding `value`.
pub(super) fn search_form(action: &str, label: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><form method=\"get\" action=\"{action}\" role=\"search\">\
         <label for=\"search\">{label}</label>\
         <input type=\"search\" id=\"search\" name=\"search\" value=\"{value}\">\
         <button type=\"submit\">Search</button></form></div>",
        value = escape(value),
    )
}

/// A link to the next page of `action`, with the query `pairs` (the search and the cursor).
pub(super) fn next_link(action: &str, pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    format!(
        "<p><a href=\"{action}?{}\">Next page</a></p>",
        escape(&serializer.finish())
    )
}
