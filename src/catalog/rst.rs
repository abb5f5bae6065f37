//! Reads the ECS "Permissions and Supported Actions" documentation pages (reStructuredText)
//! into catalog [`Row`]s. Only grid tables are understood, and only as far as these pages use
//! them: no row or column spans, every table is a permission table. A misread row would make
//! the catalog grant or blame the wrong permission without anyone noticing, so whatever the
//! reader cannot place with certainty is an error naming file, line and column; only the
//! known documentation typos (missing `/` after the version, a repeated path, a query
//! string in a path) are repaired, each with a warning.

use super::model::{Api, Condition, Row, Scope, is_action};
use super::text::{CatalogError, parse_api};

/// The rows of one page in page order, plus one warning per repaired documentation typo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRows {
    /// Each row satisfies the [`Row`] invariants (non-empty `apis` and `actions`, no repeats).
    pub rows: Vec<Row>,
    /// Notes of the form `file:line: message`, in page order.
    pub warnings: Vec<String>,
}

/// Reads every permission table in one page's text. `file` is the name used in
/// `Row::source` (`<file>:<line>`) and in errors; `revision` goes into `Row::revision`.
/// A page without tables yields no rows; a malformed table is an error, never a guess.
pub fn read_page(file: &str, text: &str, revision: &str) -> Result<PageRows, CatalogError> {
    // Columns are counted in chars, not bytes, so non-ASCII text neither panics on a slice
    // nor shifts the column boundaries; trailing blanks carry no meaning in a grid table.
    let lines: Vec<Vec<char>> = text
        .lines()
        .map(|l| l.trim_end().chars().collect())
        .collect();
    let mut page = Page {
        file,
        revision,
        lines: &lines,
        warnings: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if !is_border_shaped(&lines[index]) {
            index += 1;
            continue;
        }
        let end = page.table_end(index)?;
        rows.extend(page.read_table(index, end)?);
        index = end;
    }
    Ok(PageRows {
        rows,
        warnings: page.warnings,
    })
}

/// HTTP methods an API line may start with; anything else means the cell is not an API.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

struct Page<'a> {
    file: &'a str,
    revision: &'a str,
    lines: &'a [Vec<char>],
    warnings: Vec<String>,
}

/// Where a table's column boundaries are, taken from its top border.
struct Grid {
    /// Char indices of the `+` in the top border, ascending.
    bounds: Vec<usize>,
    width: usize,
    indent: usize,
    top_line: usize,
}

impl Grid {
    fn is_bound(&self, index: usize) -> bool {
        self.bounds.binary_search(&index).is_ok()
    }
}

/// One non-blank physical line of a cell.
struct CellLine {
    line: usize,
    /// 1-based column of the first non-blank char.
    column: usize,
    /// Blanks before the text inside the cell; bullet captions scope by indentation.
    indent: usize,
    text: String,
}

/// The physical lines between two borders: one table row (or the header).
struct Block {
    first_line: usize,
    cells: Vec<Vec<CellLine>>,
}

/// Which physical column holds which field; unknown columns have no slot.
struct Columns {
    permission: Option<usize>,
    api: usize,
    action: usize,
    depends: Option<usize>,
    iam_project: Option<usize>,
    enterprise_project: Option<usize>,
}

/// Actions of one cell, split by the condition caption they appear under.
struct Section {
    condition: Option<Condition>,
    items: Vec<String>,
    /// Where a `-` ("none") marker stood, to reject it beside real entries.
    none_at: Option<(usize, usize)>,
}

impl Page<'_> {
    fn err(&self, line: usize, column: usize, message: String) -> CatalogError {
        CatalogError {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }

    fn warn(&mut self, line: usize, message: String) {
        self.warnings
            .push(format!("{}:{}: {}", self.file, line, message));
    }

    /// Index one past the last line of the table starting at `start`. Every table line
    /// must start at the top border's indentation: a shifted `|` or `+` is a ragged table,
    /// not the end of it.
    fn table_end(&self, start: usize) -> Result<usize, CatalogError> {
        let indent = leading_blanks(&self.lines[start]);
        let mut index = start + 1;
        while let Some(line) = self.lines.get(index) {
            let at = leading_blanks(line);
            match line.get(at) {
                Some('+' | '|') if at == indent => index += 1,
                Some('+' | '|') => {
                    return Err(self.err(
                        index + 1,
                        at + 1,
                        format!(
                            "table line starts at column {}, the table (line {}) at column {}",
                            at + 1,
                            start + 1,
                            indent + 1
                        ),
                    ));
                }
                _ => break,
            }
        }
        Ok(index)
    }

    fn read_table(&mut self, start: usize, end: usize) -> Result<Vec<Row>, CatalogError> {
        let top = &self.lines[start];
        let grid = Grid {
            bounds: top
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '+')
                .map(|(i, _)| i)
                .collect(),
            width: top.len(),
            indent: leading_blanks(top),
            top_line: start + 1,
        };
        if self.check_border(&grid, start)? == '=' {
            return Err(self.err(
                start + 1,
                grid.indent + 1,
                "table starts with a header separator (`+===+`) instead of a border".into(),
            ));
        }
        let mut rows = Vec::new();
        let mut columns: Option<Columns> = None;
        let mut block: Option<Block> = None;
        let mut after_border = true;
        for index in start + 1..end {
            let line_no = index + 1;
            if self.lines[index].get(grid.indent) == Some(&'+') {
                let fill = self.check_border(&grid, index)?;
                if after_border {
                    return Err(self.err(
                        line_no,
                        grid.indent + 1,
                        "border line directly after another border (a row without lines)".into(),
                    ));
                }
                after_border = true;
                if fill == '=' {
                    if columns.is_some() {
                        return Err(self.err(
                            line_no,
                            grid.indent + 1,
                            "second header separator (`+===+`) in one table".into(),
                        ));
                    }
                    let Some(header) = block.take() else {
                        return Err(self.err(line_no, grid.indent + 1, "empty header".into()));
                    };
                    columns = Some(self.columns(&grid, &header)?);
                } else if let Some(columns) = &columns
                    && let Some(row) = block.take()
                {
                    rows.push(self.build_row(&grid, columns, row)?);
                }
                // A `+---+` before the header separator splits a multi-line header: the
                // block stays open so its lines are read as one header.
                continue;
            }
            after_border = false;
            let cells = self.split_cells(&grid, index)?;
            let block = block.get_or_insert_with(|| Block {
                first_line: line_no,
                cells: cells.iter().map(|_| Vec::new()).collect(),
            });
            for (slot, cell) in block.cells.iter_mut().zip(cells) {
                slot.extend(cell);
            }
        }
        if !after_border {
            return Err(self.err(end, 0, "table ends without a closing border line".into()));
        }
        if columns.is_none() {
            return Err(self.err(
                grid.top_line,
                0,
                "table has no header separator (`+===+`), so its columns have no names".into(),
            ));
        }
        Ok(rows)
    }

    /// Checks a border line against the top border; returns its fill, `-` or `=`.
    fn check_border(&self, grid: &Grid, index: usize) -> Result<char, CatalogError> {
        let line = &self.lines[index];
        let line_no = index + 1;
        let mut fill = None;
        for i in grid.indent..line.len().max(grid.width) {
            let at = |message: String| self.err(line_no, i + 1, message);
            let is_bound = grid.is_bound(i);
            match line.get(i).copied() {
                None => {
                    return Err(at(format!(
                        "border line ends at column {}, the top border (line {}) at column {}",
                        line.len(),
                        grid.top_line,
                        grid.width
                    )));
                }
                Some(_) if i >= grid.width => {
                    return Err(at(format!(
                        "border line runs past the top border's end (line {}, column {})",
                        grid.top_line, grid.width
                    )));
                }
                Some('+') if is_bound => {}
                Some(c) if is_bound => {
                    return Err(at(format!(
                        "expected `+` at column {}, where the top border (line {}) has a column boundary, found `{c}`",
                        i + 1,
                        grid.top_line
                    )));
                }
                Some('+') => {
                    return Err(at(format!(
                        "`+` at column {}, where the top border (line {}) has no column boundary",
                        i + 1,
                        grid.top_line
                    )));
                }
                Some(c @ ('-' | '=')) => {
                    if *fill.get_or_insert(c) != c {
                        return Err(at("border line mixes `-` and `=`".into()));
                    }
                }
                Some(c) => return Err(at(format!("unexpected `{c}` in a border line"))),
            }
        }
        fill.ok_or_else(|| {
            self.err(
                line_no,
                grid.indent + 1,
                "border line without `-` or `=`".into(),
            )
        })
    }

    /// Splits a content line at the grid's boundaries, one entry per column (empty when the
    /// cell is blank on this line). A `|` standing alone like a separator away from a
    /// boundary, or a boundary without `|`, is an error: the table is ragged or spans cells.
    fn split_cells(
        &self,
        grid: &Grid,
        index: usize,
    ) -> Result<Vec<Option<CellLine>>, CatalogError> {
        let line = &self.lines[index];
        let line_no = index + 1;
        let blank = |i: usize| line.get(i).is_none_or(|c| c.is_whitespace());
        // Pipes inside text (`a|b`, `|subst|`) are not separators; ` | ` always looks like one.
        let separators: Vec<usize> = (grid.indent..line.len())
            .filter(|&i| {
                line[i] == '|' && (grid.is_bound(i) || ((i == 0 || blank(i - 1)) && blank(i + 1)))
            })
            .collect();
        if separators.len() != grid.bounds.len() {
            let column = first_difference(&separators, &grid.bounds) + 1;
            return Err(self.err(
                line_no,
                column,
                format!(
                    "line has {} cells, the table (line {}) has {}",
                    separators.len().saturating_sub(1),
                    grid.top_line,
                    grid.bounds.len() - 1
                ),
            ));
        }
        if let Some((&sep, &bound)) = separators.iter().zip(&grid.bounds).find(|(s, b)| s != b) {
            return Err(self.err(
                line_no,
                sep.min(bound) + 1,
                format!(
                    "`|` at column {}, but the border (line {}) puts the column boundary at column {}",
                    sep + 1,
                    grid.top_line,
                    bound + 1
                ),
            ));
        }
        if line.len() != grid.width {
            return Err(self.err(
                line_no,
                grid.width + 1,
                format!(
                    "text after the table's right edge (column {}, line {})",
                    grid.width, grid.top_line
                ),
            ));
        }
        Ok(grid
            .bounds
            .windows(2)
            .map(|pair| {
                let inner = &line[pair[0] + 1..pair[1]];
                let indent = leading_blanks(inner);
                let text: String = inner.iter().collect::<String>().trim().to_string();
                (!text.is_empty()).then(|| CellLine {
                    line: line_no,
                    column: pair[0] + 1 + indent + 1,
                    indent,
                    text,
                })
            })
            .collect())
    }

    fn columns(&self, grid: &Grid, header: &Block) -> Result<Columns, CatalogError> {
        let mut slots: [Option<usize>; 6] = [None; 6];
        const NAMES: [&str; 6] = [
            "permission",
            "api",
            "action",
            "dependencies",
            "iam project",
            "enterprise project",
        ];
        let mut seen = Vec::new();
        for (k, cell) in header.cells.iter().enumerate() {
            let name = join(cell);
            seen.push(name.clone());
            let Some(slot) = NAMES.iter().position(|n| name.eq_ignore_ascii_case(n)) else {
                continue;
            };
            if slots[slot].is_some() {
                return Err(self.err(
                    header.first_line,
                    grid.bounds[k] + 2,
                    format!("second `{name}` column"),
                ));
            }
            slots[slot] = Some(k);
        }
        let required = |slot: usize, title: &str| {
            slots[slot].ok_or_else(|| {
                self.err(
                    header.first_line,
                    0,
                    format!(
                        "table has no `{title}` column (header: {})",
                        seen.join(" | ")
                    ),
                )
            })
        };
        Ok(Columns {
            permission: slots[0],
            api: required(1, "API")?,
            action: required(2, "Action")?,
            depends: slots[3],
            iam_project: slots[4],
            enterprise_project: slots[5],
        })
    }

    fn build_row(
        &mut self,
        grid: &Grid,
        columns: &Columns,
        block: Block,
    ) -> Result<Row, CatalogError> {
        let cell = |k: Option<usize>| {
            k.and_then(|k| block.cells.get(k))
                .map_or(&[][..], |c| &c[..])
        };
        let cell_column = |k: usize| grid.bounds.get(k).map_or(0, |b| b + 2);

        let apis = self.read_apis(cell(Some(columns.api)))?;
        if apis.is_empty() {
            return Err(self.err(
                block.first_line,
                cell_column(columns.api),
                "row has no API".into(),
            ));
        }

        let action_sections = self.read_list(cell(Some(columns.action)), "Action")?;
        let mut actions: Vec<String> = Vec::new();
        for section in &action_sections {
            push_unique(&mut actions, section.items.iter().cloned());
        }
        if actions.is_empty() {
            return Err(self.err(
                block.first_line,
                cell_column(columns.action),
                "row has no action".into(),
            ));
        }
        // The model keeps one action list per row: conditional actions that differ would
        // be merged into "always needs all", so say so instead of hiding it.
        let mut per_condition: Vec<Vec<&String>> = action_sections[1..]
            .iter()
            .map(|s| {
                let mut items: Vec<&String> = s.items.iter().collect();
                items.sort();
                items
            })
            .collect();
        per_condition.dedup();
        if per_condition.len() > 1 {
            self.warn(
                block.first_line,
                "the Action column lists different actions per condition; the row requires all of them"
                    .into(),
            );
        }

        let mut sections = self.read_list(cell(columns.depends), "Dependencies")?;
        let depends = std::mem::take(&mut sections[0].items);
        let variants = sections
            .into_iter()
            .skip(1)
            .filter_map(|s| Some((s.condition?, s.items)))
            .filter(|(_, items)| !items.is_empty())
            .collect();

        let scope = |k: Option<usize>, title: &str| -> Result<Scope, CatalogError> {
            let lines = cell(k);
            let text = join(lines);
            Scope::parse(&text).ok_or_else(|| {
                let (line, column) = lines
                    .first()
                    .map_or((block.first_line, 0), |l| (l.line, l.column));
                self.err(
                    line,
                    column,
                    format!(
                        "unknown {title} value `{text}` (expected `Supported` or `Not supported`)"
                    ),
                )
            })
        };
        let iam_project = scope(columns.iam_project, "IAM Project")?;
        let enterprise_project = scope(columns.enterprise_project, "Enterprise Project")?;

        Ok(Row {
            source: format!("{}:{}", self.file, block.first_line),
            revision: self.revision.to_string(),
            permission: strip_refs(&join(cell(columns.permission))),
            apis,
            actions,
            depends,
            variants,
            iam_project,
            enterprise_project,
        })
    }

    /// One API per line, with the known documentation typos repaired (each warned about).
    fn read_apis(&mut self, lines: &[CellLine]) -> Result<Vec<Api>, CatalogError> {
        let mut apis: Vec<Api> = Vec::new();
        for cl in lines {
            let mut words = cl.text.split_whitespace();
            let (Some(method), Some(path), None) = (words.next(), words.next(), words.next())
            else {
                return Err(self.err(
                    cl.line,
                    cl.column,
                    format!(
                        "expected `METHOD /path` in the API column, got `{}`",
                        cl.text
                    ),
                ));
            };
            let mut template = path.to_string();
            if let Some(q) = template.find('?') {
                self.warn(
                    cl.line,
                    format!(
                        "dropped the query string `{}` from `{}`",
                        &template[q..],
                        cl.text
                    ),
                );
                template.truncate(q);
            }
            if let Some(fixed) = add_version_slash(&template) {
                self.warn(
                    cl.line,
                    format!("`{template}` lacks the `/` after the version; read as `{fixed}`"),
                );
                template = fixed;
            }
            let api = parse_api(&format!("{method} {template}"))
                .filter(|api| METHODS.contains(&api.method.as_str()))
                .ok_or_else(|| {
                    self.err(
                        cl.line,
                        cl.column,
                        format!(
                            "expected `METHOD /path` with an HTTP method in the API column, got `{}`",
                            cl.text
                        ),
                    )
                })?;
            if apis.contains(&api) {
                self.warn(
                    cl.line,
                    format!("`{api}` is listed twice in one row; kept once"),
                );
            } else {
                apis.push(api);
            }
        }
        Ok(apis)
    }

    /// Reads an Action or Dependencies cell. Section 0 holds what precedes any caption; a
    /// bulleted caption (`-  Assigning a New EIP`) covers the lines indented under it, an
    /// unbulleted one runs to the next caption.
    fn read_list(&self, lines: &[CellLine], title: &str) -> Result<Vec<Section>, CatalogError> {
        let mut sections = vec![Section {
            condition: None,
            items: Vec::new(),
            none_at: None,
        }];
        let mut current = 0;
        let mut bullet_indent: Option<usize> = None;
        for cl in lines {
            if let Some(indent) = bullet_indent
                && cl.indent <= indent
            {
                current = 0;
                bullet_indent = None;
            }
            let text = cl.text.as_str();
            if text == "-" || text == "``-``" {
                sections[current]
                    .none_at
                    .get_or_insert((cl.line, cl.column));
                continue;
            }
            let (bullet, body) = match strip_bullet(text) {
                Some(body) => (true, body),
                None => (false, text),
            };
            if is_action(body) {
                push_unique(&mut sections[current].items, [body.to_string()]);
            } else if let Some(condition) = Condition::from_caption(body) {
                current = match sections.iter().position(|s| s.condition == Some(condition)) {
                    Some(existing) => existing,
                    None => {
                        sections.push(Section {
                            condition: Some(condition),
                            items: Vec::new(),
                            none_at: None,
                        });
                        sections.len() - 1
                    }
                };
                bullet_indent = bullet.then_some(cl.indent);
            } else {
                return Err(self.err(
                    cl.line,
                    cl.column,
                    format!(
                        "`{text}` in the {title} column is neither an action (service:resource:operation) nor a known condition caption"
                    ),
                ));
            }
        }
        for section in &sections {
            if let Some((line, column)) = section.none_at
                && !section.items.is_empty()
            {
                return Err(self.err(
                    line,
                    column,
                    format!("`-` (none) in the {title} column beside actions"),
                ));
            }
        }
        Ok(sections)
    }
}

/// True for a line that can open a grid table: `+` then runs of `-` or `=` closed by `+`.
fn is_border_shaped(line: &[char]) -> bool {
    let body = &line[leading_blanks(line)..];
    body.len() >= 3
        && body.first() == Some(&'+')
        && body.last() == Some(&'+')
        && body.iter().all(|c| matches!(c, '+' | '-' | '='))
        && body.iter().any(|c| *c != '+')
}

fn leading_blanks(chars: &[char]) -> usize {
    chars.iter().take_while(|c| c.is_whitespace()).count()
}

/// Smallest value at the first index where the two ascending lists differ.
fn first_difference(a: &[usize], b: &[usize]) -> usize {
    let k = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => *x.min(y),
        (Some(x), None) | (None, Some(x)) => *x,
        (None, None) => 0,
    }
}

/// The cell's lines as one space-separated text (a wrapped title reads as one line).
fn join(lines: &[CellLine]) -> String {
    lines
        .iter()
        .flat_map(|l| l.text.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// The text after a bullet marker (`-`, `*`, `+` followed by a blank), if the line is one.
fn strip_bullet(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(['-', '*', '+'])?;
    rest.starts_with(char::is_whitespace)
        .then(|| rest.trim_start())
}

/// `/v1{project_id}/x` -> `/v1/{project_id}/x`; `None` when the slash is there.
fn add_version_slash(template: &str) -> Option<String> {
    let rest = template.strip_prefix("/v")?;
    let digits = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (version, tail) = rest.split_at(digits);
    (digits > 0 && version.starts_with(|c: char| c.is_ascii_digit()) && tail.starts_with('{'))
        .then(|| format!("/v{version}/{tail}"))
}

/// Replaces each ``:ref:`Title <target>` `` with `Title` (or a bare ``:ref:`target` `` with
/// `target`): the catalog wants the human title, not Sphinx cross-reference markup.
fn strip_refs(text: &str) -> String {
    const OPEN: &str = ":ref:`";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let after = &rest[at + OPEN.len()..];
        let Some(close) = after.find('`') else {
            break;
        };
        out.push_str(&rest[..at]);
        let inner = &after[..close];
        let title = inner
            .strip_suffix('>')
            .and_then(|s| s.rfind('<').map(|p| s[..p].trim()))
            .filter(|t| !t.is_empty())
            .unwrap_or(inner);
        out.push_str(title.trim());
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> PageRows {
        read_page("t.rst", text, "test").unwrap_or_else(|e| panic!("fixture should parse: {e}"))
    }

    fn fails(text: &str) -> CatalogError {
        match read_page("bad.rst", text, "test") {
            Ok(rows) => panic!("expected an error, got {rows:?}"),
            Err(e) => e,
        }
    }

    fn api(method: &str, template: &str) -> Api {
        Api {
            method: method.into(),
            template: template.into(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const BASIC: &str = r"Title
=====

+----------------------------------------+------------------------------------------------------------------------+----------------------------------------+------------------+
| Permission                             | API                                                                    | Action                                 | Dependencies     |
+========================================+========================================================================+========================================+==================+
| :ref:`Starting an ECS <en-us_topic_1>` | POST /v2/{project_id}/servers/{server_id}/action                       | ecs:servers:start                      | ecs:servers:list |
|                                        |                                                                        |                                        |                  |
|                                        | post /v2.1/{project_id}/servers/{server_id}/action                     |                                        | ecs:servers:get  |
|                                        |                                                                        |                                        |                  |
|                                        |                                                                        |                                        | ecs:servers:list |
+----------------------------------------+------------------------------------------------------------------------+----------------------------------------+------------------+
| Querying a disk attached               | GET /v1/{project_id}/cloudservers/{server_id}/block_device/{volume_id} | ecs:cloudServers:get                   | ``-``            |
| to an ECS                              |                                                                        |                                        |                  |
|                                        |                                                                        | ecs:cloudServers:showServerBlockDevice |                  |
+----------------------------------------+------------------------------------------------------------------------+----------------------------------------+------------------+
| :ref:`en-us_topic_3`                   | POST /v1/{project_id}/cloudservers/delete                              | ecs:cloudServers:deleteServers         | -                |
+----------------------------------------+------------------------------------------------------------------------+----------------------------------------+------------------+
";

    #[test]
    fn multi_line_cells_refs_none_and_two_apis_or_actions() {
        let page = read(BASIC);
        assert!(page.warnings.is_empty(), "{:?}", page.warnings);
        let [start, disk, delete] = &page.rows[..] else {
            panic!("expected 3 rows, got {:?}", page.rows);
        };

        assert_eq!(start.source, "t.rst:7");
        assert_eq!(start.revision, "test");
        assert_eq!(start.permission, "Starting an ECS");
        assert_eq!(
            start.apis,
            [
                api("POST", "/v2/{project_id}/servers/{server_id}/action"),
                api("POST", "/v2.1/{project_id}/servers/{server_id}/action"),
            ]
        );
        assert_eq!(start.actions, strings(&["ecs:servers:start"]));
        // Blank separator lines are skipped; the repeated dependency is kept once.
        assert_eq!(
            start.depends,
            strings(&["ecs:servers:list", "ecs:servers:get"])
        );
        assert!(start.variants.is_empty());
        assert_eq!(
            (start.iam_project, start.enterprise_project),
            (Scope::Unknown, Scope::Unknown)
        );

        assert_eq!(disk.source, "t.rst:13");
        assert_eq!(disk.permission, "Querying a disk attached to an ECS");
        assert_eq!(disk.apis.len(), 1);
        assert_eq!(
            disk.actions,
            strings(&[
                "ecs:cloudServers:get",
                "ecs:cloudServers:showServerBlockDevice"
            ])
        );
        assert!(disk.depends.is_empty());

        assert_eq!(delete.source, "t.rst:17");
        assert_eq!(delete.permission, "en-us_topic_3");
        assert!(delete.depends.is_empty());
    }

    const EIP: &str = r"+-------------------------------------------------------------+--------------------------------------+-----------------------------------+--------------------------+
| Permission                                                  | API                                  | Action                            | Dependencies             |
+=============================================================+======================================+===================================+==========================+
| :ref:`Creating ECSs (pay-per-use) <en-us_topic_0020212668>` | POST /v1/{project_id}/cloudservers   | -  Assigning a New EIP            | -  Assigning a New EIP   |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |    ecs:cloudServers:createServers |    vpc:publicIps:create  |
|                                                             |                                      |                                   |                          |
|                                                             |                                      | -  Using an Existing EIP          | -  Using an Existing EIP |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |    ecs:cloudServers:createServers |    vpc:publicIps:update  |
+-------------------------------------------------------------+--------------------------------------+-----------------------------------+--------------------------+
| Creating with extras                                        | POST /v1.1/{project_id}/cloudservers | ecs:cloudServers:createServers    | ecs:cloudServers:get     |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |                                   | -  Assigning a New EIP   |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |                                   |    vpc:publicIps:create  |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |                                   |    vpc:publicIps:get     |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |                                   | -  Using an Existing EIP |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |                                   |    vpc:publicIps:update  |
|                                                             |                                      |                                   |                          |
|                                                             |                                      |                                   | ecs:servers:list         |
+-------------------------------------------------------------+--------------------------------------+-----------------------------------+--------------------------+
";

    #[test]
    fn eip_captions_become_variants() {
        let page = read(EIP);
        assert!(page.warnings.is_empty(), "{:?}", page.warnings);
        let [create, extras] = &page.rows[..] else {
            panic!("expected 2 rows, got {:?}", page.rows);
        };
        assert_eq!(create.permission, "Creating ECSs (pay-per-use)");
        assert_eq!(create.actions, strings(&["ecs:cloudServers:createServers"]));
        assert!(create.depends.is_empty());
        assert_eq!(
            create.variants,
            [
                (Condition::NewEip, strings(&["vpc:publicIps:create"])),
                (Condition::ExistingEip, strings(&["vpc:publicIps:update"])),
            ]
        );

        // Before the first caption, and after the bullet list ends (a line no longer
        // indented under the bullet), dependencies are unconditional.
        assert_eq!(
            extras.depends,
            strings(&["ecs:cloudServers:get", "ecs:servers:list"])
        );
        assert_eq!(
            extras.variants,
            [
                (
                    Condition::NewEip,
                    strings(&["vpc:publicIps:create", "vpc:publicIps:get"])
                ),
                (Condition::ExistingEip, strings(&["vpc:publicIps:update"])),
            ]
        );
    }

    const REPAIRS: &str = r"Repairs
=======

+-----------------------+-------------------------------------------------------------------+------------------------------------+------------------+
| Permission            | API                                                               | Action                             | Dependencies     |
+=======================+===================================================================+====================================+==================+
| Creating an ECS group | POST /v1{project_id}/cloudservers/os-server-groups                | ecs:cloudServers:createServerGroup | ``-``            |
+-----------------------+-------------------------------------------------------------------+------------------------------------+------------------+
| Resizing              | POST /v2.1/{project_id}/servers/{server_id}/action                | ecs:servers:resize                 | ecs:servers:list |
|                       |                                                                   |                                    |                  |
|                       | POST /v2.1/{project_id}/servers/{server_id}/action                |                                    |                  |
+-----------------------+-------------------------------------------------------------------+------------------------------------+------------------+
| Querying quotas       | GET /v2/{project_id}/os-quota-sets/{project_id}?user_id={user_id} | ecs:quotas:get                     | ``-``            |
+-----------------------+-------------------------------------------------------------------+------------------------------------+------------------+
";

    #[test]
    fn documentation_typos_are_repaired_with_warnings() {
        let page = read(REPAIRS);
        let [group, resize, quotas] = &page.rows[..] else {
            panic!("expected 3 rows, got {:?}", page.rows);
        };
        assert_eq!(
            group.apis,
            [api(
                "POST",
                "/v1/{project_id}/cloudservers/os-server-groups"
            )]
        );
        assert_eq!(
            resize.apis,
            [api("POST", "/v2.1/{project_id}/servers/{server_id}/action")]
        );
        assert_eq!(
            quotas.apis,
            [api("GET", "/v2/{project_id}/os-quota-sets/{project_id}")]
        );
        assert_eq!(
            page.warnings,
            [
                "t.rst:7: `/v1{project_id}/cloudservers/os-server-groups` lacks the `/` after the version; read as `/v1/{project_id}/cloudservers/os-server-groups`",
                "t.rst:11: `POST /v2.1/{project_id}/servers/{server_id}/action` is listed twice in one row; kept once",
                "t.rst:13: dropped the query string `?user_id={user_id}` from `GET /v2/{project_id}/os-quota-sets/{project_id}?user_id={user_id}`",
            ]
        );
    }

    #[test]
    fn version_slash_repair_only_touches_the_typo() {
        assert_eq!(
            add_version_slash("/v1{project_id}/x").as_deref(),
            Some("/v1/{project_id}/x")
        );
        assert_eq!(
            add_version_slash("/v2.1{project_id}").as_deref(),
            Some("/v2.1/{project_id}")
        );
        assert_eq!(add_version_slash("/v1/{project_id}/x"), None);
        assert_eq!(add_version_slash("/v{x}"), None);
        assert_eq!(add_version_slash("/volumes{x}"), None);
    }

    const SIX: &str = r"+----------------------------------------------------+---------------------------------------------------------+---------------------------+------------------+-------------+---------------+
| Permission                                         | API                                                     | Action                    | Dependencies     | IAM Project | Enterprise    |
|                                                    |                                                         |                           |                  |             | Project       |
+====================================================+=========================================================+===========================+==================+=============+===============+
| :ref:`Starting an ECS (native OpenStack API) <t1>` | POST /v2.1/{project_id}/servers/{server_id}/action      | ecs:servers:start         | ecs:servers:list | Supported   | Not supported |
+----------------------------------------------------+---------------------------------------------------------+---------------------------+------------------+-------------+---------------+
| :ref:`Changing an ECS OS <t2>`                     | POST /v2/{project_id}/cloudservers/{server_id}/changeos | ecs:cloudServers:changeOS | ``-``            | Supported   | Supported     |
+----------------------------------------------------+---------------------------------------------------------+---------------------------+------------------+-------------+---------------+
";

    #[test]
    fn six_columns_with_scopes_and_a_two_line_header() {
        let page = read(SIX);
        let [start, change] = &page.rows[..] else {
            panic!("expected 2 rows, got {:?}", page.rows);
        };
        assert_eq!(start.source, "t.rst:5");
        assert_eq!(start.permission, "Starting an ECS (native OpenStack API)");
        assert_eq!(start.iam_project, Scope::Supported);
        assert_eq!(start.enterprise_project, Scope::NotSupported);
        assert_eq!(change.iam_project, Scope::Supported);
        assert_eq!(change.enterprise_project, Scope::Supported);
        assert!(change.depends.is_empty());
    }

    const EXTRA: &str = r"+------------------+--------------------------------+------------------------------+--------------+
| Action           | Notes                          | api                          | PERMISSION   |
+==================+================================+==============================+==============+
| ecs:servers:list | anything at all: not an action | GET /v2/{project_id}/servers | Listing ECSs |
+------------------+--------------------------------+------------------------------+--------------+
";

    #[test]
    fn columns_found_by_name_in_any_order_and_unknown_ones_ignored() {
        let page = read(EXTRA);
        assert_eq!(page.rows.len(), 1);
        let row = &page.rows[0];
        assert_eq!(row.permission, "Listing ECSs");
        assert_eq!(row.apis, [api("GET", "/v2/{project_id}/servers")]);
        assert_eq!(row.actions, strings(&["ecs:servers:list"]));
        assert!(row.depends.is_empty());
    }

    #[test]
    fn page_without_tables_has_no_rows() {
        let page = read(
            ":original_name: x.html\n\nIndex\n=====\n\n-  :ref:`Introduction <t1>`\n\n| a line block\n| not a table\n\n+ not a border\n",
        );
        assert_eq!(page, PageRows::default());
        assert_eq!(read(""), PageRows::default());
    }

    #[test]
    fn two_tables_keep_page_order() {
        let page = read(&format!("{EXTRA}\nMore\n====\n\n{SIX}"));
        let sources: Vec<&str> = page.rows.iter().map(|r| r.source.as_str()).collect();
        assert_eq!(sources, ["t.rst:4", "t.rst:14", "t.rst:16"]);
    }

    #[test]
    fn non_ascii_text_is_counted_in_chars() {
        let page = read(&EXTRA.replace("Listing ECSs", "Listing ÉCSs"));
        assert_eq!(page.rows[0].permission, "Listing ÉCSs");
        // One char too many in a cell: an error, not a panic on a byte boundary.
        let e = fails(&EXTRA.replace("Listing ECSs |", "Listing ÉCSs  |"));
        assert_eq!((e.line, e.column), (4, 99), "{e}");
    }

    /// Line 1 title, 2 top border, 3 header, 4 separator, 5 row, 6 bottom border.
    const SMALL: &str = "Small
+------+-----------+-------------+
| P    | API       | Action      |
+======+===========+=============+
| x    | GET /a    | ecs:a:get   |
+------+-----------+-------------+
";

    fn error_at(text: &str, line: usize, column: usize, words: &str) {
        let e = fails(text);
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("bad.rst", line, column),
            "{e}"
        );
        let shown = e.to_string();
        let place = if column > 0 {
            format!("bad.rst:{line}:{column}: ")
        } else {
            format!("bad.rst:{line}: ")
        };
        assert!(shown.starts_with(&place), "{shown}");
        assert!(shown.contains(words), "`{words}` not in: {shown}");
    }

    #[test]
    fn small_fixture_is_valid() {
        let page = read(SMALL);
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.rows[0].source, "t.rst:5");
        assert_eq!(page.rows[0].permission, "");
    }

    #[test]
    fn ragged_border_is_an_error() {
        let lines: Vec<&str> = SMALL.lines().collect();
        let mut moved = lines.clone();
        moved[5] = "+-------+----------+-------------+";
        error_at(&moved.join("\n"), 6, 8, "expected `+` at column 8");
        let mut extra = lines.clone();
        extra[5] = "+------+-----+-----+-------------+";
        error_at(&extra.join("\n"), 6, 14, "no column boundary");
        let mut short = lines.clone();
        short[5] = "+------+-----------+-------";
        error_at(&short.join("\n"), 6, 28, "border line ends at column 27");
        let mut long = lines.clone();
        long[3] = "+======+===========+=============+==";
        error_at(&long.join("\n"), 4, 35, "runs past");
        let mut mixed = lines;
        mixed[3] = "+======+====-======+=============+";
        error_at(&mixed.join("\n"), 4, 13, "mixes");
    }

    #[test]
    fn ragged_content_line_is_an_error() {
        let short = SMALL.replace("| GET /a    |", "| GET /a   |");
        error_at(&short, 5, 19, "boundary at column 20");
        let long = SMALL.replace("| ecs:a:get   |", "| ecs:a:get   | x");
        error_at(&long, 5, 35, "right edge");
        let shifted = SMALL.replace("| x    |", " | x   |");
        error_at(&shifted, 5, 2, "starts at column 2");
    }

    #[test]
    fn wrong_cell_count_is_an_error() {
        let more = SMALL.replace("| ecs:a:get   |", "| ecs:a | get |");
        error_at(&more, 5, 28, "line has 4 cells, the table (line 2) has 3");
        let fewer = SMALL.replace("| GET /a    | ecs:a:get", "| GET /a      ecs:a:get");
        error_at(&fewer, 5, 20, "line has 2 cells");
    }

    #[test]
    fn bad_cell_contents_are_errors() {
        error_at(
            &SMALL.replace("ecs:a:get", "ecs-a-get"),
            5,
            22,
            "`ecs-a-get` in the Action column is neither an action",
        );
        error_at(
            &SMALL.replace("GET /a", "GET a "),
            5,
            10,
            "expected `METHOD /path`",
        );
        error_at(
            &SMALL.replace("GET /a", "Get it"),
            5,
            10,
            "expected `METHOD /path`",
        );
        error_at(
            &SMALL.replace("ecs:a:get", "         "),
            5,
            21,
            "row has no action",
        );
        error_at(&SMALL.replace("GET /a", "      "), 5, 9, "row has no API");
        let none_and_action = SMALL.replace("ecs:a:get  ", "-          ");
        error_at(&none_and_action, 5, 21, "row has no action");
        let caption = SMALL.replace("ecs:a:get  ", "-  Other   ");
        error_at(&caption, 5, 22, "neither an action");
    }

    #[test]
    fn header_problems_are_errors() {
        error_at(&SMALL.replace("| API ", "| URL "), 3, 0, "no `API` column");
        error_at(
            &SMALL.replace("Action ", "Actions"),
            3,
            0,
            "no `Action` column",
        );
        error_at(
            &SMALL.replace("| P  ", "| api"),
            3,
            9,
            "second `API` column",
        );
        let no_separator = SMALL.replace(
            "+======+===========+=============+",
            "+------+-----------+-------------+",
        );
        error_at(&no_separator, 2, 0, "no header separator");
        let open = SMALL
            .trim_end()
            .rsplit_once('\n')
            .map(|(head, _)| head.to_string());
        error_at(&open.unwrap_or_default(), 5, 0, "without a closing border");
    }

    #[test]
    fn scope_and_none_marker_problems_are_errors() {
        let six = SIX.replace("Not supported", "Maybe        ");
        error_at(&six, 5, 175, "unknown Enterprise Project value `Maybe`");
        let mixed = EIP.replace(
            "| ecs:servers:list         |",
            "| ``-``                    |",
        );
        error_at(
            &mixed,
            24,
            140,
            "`-` (none) in the Dependencies column beside actions",
        );
    }

    #[test]
    fn refs_are_stripped() {
        assert_eq!(strip_refs(":ref:`Title <t>`"), "Title");
        assert_eq!(strip_refs("See :ref:`A <a>` and :ref:`b`."), "See A and b.");
        assert_eq!(strip_refs(":ref:`unclosed"), ":ref:`unclosed");
        assert_eq!(strip_refs("plain"), "plain");
    }

    /// Rows per page in the current revision, as counted by hand from the pages.
    const PAGE_ROWS: [(&str, usize); 19] = [
        ("az_management.rst", 1),
        ("batch_operations.rst", 3),
        ("disk_management.rst", 13),
        ("ecs_group_management.rst", 10),
        ("ecs_management_through_console.rst", 1),
        ("ecs_status_management.rst", 11),
        ("image_management.rst", 1),
        ("index.rst", 0),
        ("introduction.rst", 0),
        ("lifecycle_management.rst", 11),
        ("metadata_management.rst", 7),
        ("network_management.rst", 1),
        ("nic_management.rst", 7),
        ("password_management.rst", 2),
        ("security_group_management.rst", 3),
        ("specifications_query.rst", 2),
        ("ssh_key_management.rst", 4),
        ("tag_management.rst", 11),
        ("tenant_quota_management.rst", 3),
    ];

    /// Rows counted without the reader: every `+-` border closes a row except the top
    /// border of each table (one `+=` separator per table).
    fn independent_count(text: &str) -> usize {
        let starts = |p: &str| {
            text.lines()
                .filter(|l| l.trim_start().starts_with(p))
                .count()
        };
        starts("+-") - starts("+=")
    }

    #[test]
    fn reference_pages() {
        let root = std::env::var("PERMTRAIL_REFERENCE")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference").into());
        let root = std::path::Path::new(&root);
        let pages = root.join("ecs-permission-pages");
        if !pages.is_dir() {
            eprintln!("skipping: reference pages {} not found", pages.display());
            return;
        }
        let mut names: Vec<String> = std::fs::read_dir(&pages)
            .expect("readable reference dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".rst"))
            .collect();
        names.sort();
        let expected: Vec<&str> = PAGE_ROWS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, expected);

        let mut all = Vec::new();
        let mut warnings = Vec::new();
        for (name, count) in PAGE_ROWS {
            let text = std::fs::read_to_string(pages.join(name)).expect("readable page");
            let page = read_page(name, &text, "current").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(page.rows.len(), count, "{name}");
            assert_eq!(page.rows.len(), independent_count(&text), "{name}");
            all.extend(page.rows);
            warnings.extend(page.warnings);
        }
        assert_eq!(all.len(), 91);
        assert_eq!(
            warnings,
            [
                "ecs_group_management.rst:13: `/v1{project_id}/cloudservers/os-server-groups` lacks the `/` after the version; read as `/v1/{project_id}/cloudservers/os-server-groups`",
                "ecs_status_management.rst:33: `POST /v2.1/{project_id}/servers/{server_id}/action` is listed twice in one row; kept once",
                "tenant_quota_management.rst:13: dropped the query string `?user_id={user_id}` from `GET /v2/{project_id}/os-quota-sets/{project_id}?user_id={user_id}`",
                "tenant_quota_management.rst:15: dropped the query string `?user_id={user_id}` from `GET /v2.1/{project_id}/os-quota-sets/{project_id}?user_id={user_id}`",
            ]
        );

        let find = |rows: &[Row], action: &str| -> Row {
            let found: Vec<&Row> = rows
                .iter()
                .filter(|r| r.actions.iter().any(|a| a == action))
                .collect();
            assert_eq!(found.len(), 1, "rows with {action}");
            found[0].clone()
        };
        let stop = find(&all, "ecs:servers:stop");
        assert_eq!(stop.source, "ecs_status_management.rst:23");
        assert_eq!(
            stop.depends,
            strings(&["ecs:servers:list", "ecs:servers:get"])
        );
        let create = find(&all, "ecs:cloudServers:createServers");
        assert_eq!(create.source, "lifecycle_management.rst:11");
        assert!(create.depends.is_empty());
        assert_eq!(
            create.variants,
            [
                (Condition::NewEip, strings(&["vpc:publicIps:create"])),
                (Condition::ExistingEip, strings(&["vpc:publicIps:update"])),
            ]
        );
        let block = find(&all, "ecs:cloudServers:showServerBlockDevice");
        assert_eq!(
            block.actions,
            strings(&[
                "ecs:cloudServers:get",
                "ecs:cloudServers:showServerBlockDevice"
            ])
        );
        assert!(all.iter().all(|r| r.iam_project == Scope::Unknown));
        assert!(all.iter().all(|r| !r.permission.contains(":ref:")));

        let seed_path = root.join("seed/000_e421c603b8e18766.txt");
        let text = std::fs::read_to_string(&seed_path).expect("readable seed");
        let seed =
            read_page("000_e421c603b8e18766.txt", &text, "seed").unwrap_or_else(|e| panic!("{e}"));
        // The seed table has 11 rows (12 `+-` borders, one table), not 18.
        assert_eq!(seed.rows.len(), 11);
        assert_eq!(seed.rows.len(), independent_count(&text));
        assert!(seed.warnings.is_empty(), "{:?}", seed.warnings);
        let stop = find(&seed.rows, "ecs:servers:stop");
        assert_eq!(stop.depends, strings(&["ecs:servers:list"]));
        let start = find(&seed.rows, "ecs:servers:start");
        assert_eq!(start.iam_project, Scope::Supported);
        assert_eq!(start.enterprise_project, Scope::NotSupported);
        assert!(seed.rows.iter().all(|r| r.revision == "seed"
            && r.iam_project != Scope::Unknown
            && r.enterprise_project != Scope::Unknown));
    }
}
