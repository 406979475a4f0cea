//! Plain-text tables with aligned columns, for terminal output.

use std::fmt;

/// Rows of cells under a header; columns are as wide as their widest cell, left-aligned
/// unless marked numeric.
pub struct Table {
    rows: Vec<Vec<String>>,
    right: Vec<usize>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
            right: Vec::new(),
        }
    }

    /// Right-aligns these columns (numbers).
    pub fn right_align(mut self, columns: &[usize]) -> Self {
        self.right = columns.to_vec();
        self
    }

    /// Adds a row. Cells are escaped (see `crate::escape`): tables show tracker text.
    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows
            .push(cells.map(|c| crate::escape::escape(&c).into_owned()).into());
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width = |c: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let w = widths[c];
                if self.right.contains(&c) {
                    line.push_str(&format!("{cell:>w$}"));
                } else if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}"));
                }
                if c + 1 < row.len() {
                    line.push_str("  ");
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_to_the_widest_cell() {
        let mut t = Table::new(["ID", "TITLE"]);
        t.row(["demo-long".into(), "first".into()]);
        t.row(["d-1".into(), "second".into()]);
        assert_eq!(
            t.to_string(),
            "ID         TITLE\ndemo-long  first\nd-1        second\n"
        );
    }

    #[test]
    fn numeric_columns_align_right() {
        let mut t = Table::new(["MODEL", "TOKENS", "NOTE"]).right_align(&[1]);
        t.row(["opus".into(), "1,200".into(), "x".into()]);
        t.row(["haiku".into(), "35".into(), "".into()]);
        assert_eq!(
            t.to_string(),
            "MODEL  TOKENS  NOTE\nopus    1,200  x\nhaiku      35\n"
        );
    }
}
