//! The YAML scan: libyaml's scanner state and its token loop, as far as
//! they move where tokens start and end; the scalars are in `scalars`.
//! Past 300 lines on purpose: the token loop follows libyaml's
//! `yaml_parser_fetch_next_token` and its helpers one for one, over one
//! shared state (indents, flow level, simple keys), so that it can be
//! checked against libyaml side by side.
use super::Exceeded;

mod scalars;

/// Scans YAML `s`; `Err` at the first cap exceeded.
pub(super) fn check(s: &[u8], max_nesting: usize, max_nodes: usize) -> Result<(), Exceeded> {
    Yaml::new(s, max_nesting, max_nodes).run()
}

/// A simple key libyaml may still turn into a mapping key: where it started.
#[derive(Clone, Copy)]
struct SimpleKey {
    possible: bool,
    index: usize,
    line: usize,
    column: usize,
}

const NO_KEY: SimpleKey = SimpleKey {
    possible: false,
    index: 0,
    line: 0,
    column: 0,
};

/// Why the token loop ends: the end of the body, where libyaml stops with an
/// error (nothing after it is scanned), or a cap.
enum Stop {
    End,
    Exceeded(Exceeded),
}

/// libyaml's scanner state, as far as it moves token boundaries.
struct Yaml<'a> {
    s: &'a [u8],
    /// Byte index: libyaml's `mark.index` counts bytes too.
    pos: usize,
    line: usize,
    /// In characters, as libyaml counts columns.
    column: usize,
    flow_level: usize,
    indent: isize,
    indents: Vec<isize>,
    simple_key_allowed: bool,
    /// One per flow level, and one for the block context.
    keys: Vec<SimpleKey>,
    nodes: usize,
    /// The deepest nesting seen so far.
    deepest: usize,
    max_nesting: usize,
    max_nodes: usize,
}

/// The deepest nesting libyaml would reach in `text` (up to where it stops):
/// open flow collections plus block indentation levels.
#[cfg(test)]
pub(in crate::spec) fn yaml_depth(text: &str) -> usize {
    let mut scan = Yaml::new(text.as_bytes(), usize::MAX, usize::MAX);
    while scan.token().is_ok() {}
    scan.deepest
}

impl<'a> Yaml<'a> {
    fn new(s: &'a [u8], max_nesting: usize, max_nodes: usize) -> Self {
        Yaml {
            s,
            pos: 0,
            line: 0,
            column: 0,
            flow_level: 0,
            indent: -1,
            indents: Vec::new(),
            simple_key_allowed: true,
            keys: vec![NO_KEY],
            nodes: 0,
            deepest: 0,
            max_nesting,
            max_nodes,
        }
    }

    fn run(mut self) -> Result<(), Exceeded> {
        loop {
            match self.token() {
                Ok(()) => {}
                Err(Stop::End) => return Ok(()),
                Err(Stop::Exceeded(e)) => return Err(e),
            }
        }
    }

    /// The byte `k` ahead, NUL past the end (libyaml's buffer ends in NUL).
    fn at(&self, k: usize) -> u8 {
        self.s.get(self.pos + k).copied().unwrap_or(0)
    }

    fn is(&self, k: usize, b: u8) -> bool {
        self.at(k) == b
    }

    fn blank(&self, k: usize) -> bool {
        matches!(self.at(k), b' ' | b'\t')
    }

    /// CR, LF, NEL, LS or PS.
    fn brk(&self, k: usize) -> bool {
        match self.at(k) {
            b'\r' | b'\n' => true,
            0xC2 => self.at(k + 1) == 0x85,
            0xE2 => self.at(k + 1) == 0x80 && matches!(self.at(k + 2), 0xA8 | 0xA9),
            _ => false,
        }
    }

    fn z(&self, k: usize) -> bool {
        self.at(k) == 0
    }

    fn breakz(&self, k: usize) -> bool {
        self.brk(k) || self.z(k)
    }

    fn blankz(&self, k: usize) -> bool {
        self.blank(k) || self.breakz(k)
    }

    /// libyaml's IS_ALPHA: anchor names and tag handles.
    fn alpha(&self, k: usize) -> bool {
        matches!(self.at(k), b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'-')
    }

    fn block(&self) -> bool {
        self.flow_level == 0
    }

    /// Moves past one character.
    fn skip(&mut self) {
        let width = match self.at(0) {
            b if b & 0x80 == 0 => 1,
            b if b & 0xE0 == 0xC0 => 2,
            b if b & 0xF0 == 0xE0 => 3,
            b if b & 0xF8 == 0xF0 => 4,
            _ => 1,
        };
        self.pos = (self.pos + width).min(self.s.len());
        self.column += 1;
    }

    /// Moves past one line break (CR LF counts once).
    fn skip_line(&mut self) {
        if self.is(0, b'\r') && self.is(1, b'\n') {
            self.pos += 2;
        } else if self.brk(0) {
            self.pos += match self.at(0) {
                0xC2 => 2,
                0xE2 => 3,
                _ => 1,
            };
        } else {
            return;
        }
        self.column = 0;
        self.line += 1;
    }

    /// Whether the next four bytes are `---` or `...` and a blank, at column 0.
    fn document_marker(&self) -> bool {
        self.column == 0
            && ((self.is(0, b'-') && self.is(1, b'-') && self.is(2, b'-'))
                || (self.is(0, b'.') && self.is(1, b'.') && self.is(2, b'.')))
            && self.blankz(3)
    }

    fn exceeded_nesting(&self) -> Stop {
        Stop::Exceeded(Exceeded::Nesting {
            line: self.line + 1,
            column: self.column + 1,
        })
    }

    fn node(&mut self) -> Result<(), Stop> {
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return Err(Stop::Exceeded(Exceeded::Nodes));
        }
        Ok(())
    }

    /// Nesting now; `Err` over the cap.
    fn nest(&mut self) -> Result<(), Stop> {
        let depth = self.indents.len() + self.flow_level;
        self.deepest = self.deepest.max(depth);
        if depth > self.max_nesting {
            return Err(self.exceeded_nesting());
        }
        Ok(())
    }

    fn roll_indent(&mut self, column: usize) -> Result<(), Stop> {
        if self.block() && self.indent < column as isize {
            self.indents.push(self.indent);
            self.indent = column as isize;
            self.node()?;
            self.nest()?;
        }
        Ok(())
    }

    fn unroll_indent(&mut self, column: isize) {
        if self.block() {
            while self.indent > column {
                self.indent = self.indents.pop().unwrap_or(-1);
            }
        }
    }

    fn save_simple_key(&mut self) {
        if self.simple_key_allowed {
            let key = SimpleKey {
                possible: true,
                index: self.pos,
                line: self.line,
                column: self.column,
            };
            *self.keys.last_mut().expect("a key per level") = key;
        }
    }

    fn remove_simple_key(&mut self) {
        self.keys.last_mut().expect("a key per level").possible = false;
    }

    /// One token (libyaml's `yaml_parser_fetch_next_token`).
    fn token(&mut self) -> Result<(), Stop> {
        self.scan_to_next_token();
        self.unroll_indent(self.column as isize);
        let c = self.at(0);
        if self.pos >= self.s.len() || c == 0 {
            return Err(Stop::End);
        }
        if self.column == 0 && c == b'%' {
            // A directive runs to the end of its line, break included.
            self.unroll_indent(-1);
            self.remove_simple_key();
            self.simple_key_allowed = false;
            while !self.breakz(0) {
                self.skip();
            }
            self.skip_line();
            return Ok(());
        }
        if self.document_marker() {
            self.unroll_indent(-1);
            self.remove_simple_key();
            self.simple_key_allowed = false;
            self.pos += 3;
            self.column += 3;
            return Ok(());
        }
        match c {
            b'[' | b'{' => {
                self.save_simple_key();
                self.flow_level += 1;
                self.keys.push(NO_KEY);
                self.simple_key_allowed = true;
                self.node()?;
                self.nest()?;
                self.skip();
            }
            b']' | b'}' => {
                self.remove_simple_key();
                if self.flow_level > 0 {
                    self.flow_level -= 1;
                    self.keys.pop();
                }
                self.simple_key_allowed = false;
                self.skip();
            }
            b',' => {
                self.remove_simple_key();
                self.simple_key_allowed = true;
                self.skip();
            }
            b'-' if self.blankz(1) => {
                self.roll_indent(self.column)?;
                self.remove_simple_key();
                self.simple_key_allowed = true;
                self.skip();
            }
            b'?' if !self.block() || self.blankz(1) => {
                self.roll_indent(self.column)?;
                self.remove_simple_key();
                self.simple_key_allowed = self.block();
                self.skip();
            }
            b':' if !self.block() || self.blankz(1) => self.value()?,
            b'*' | b'&' => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                if c == b'*' {
                    self.node()?;
                }
                self.skip();
                while self.alpha(0) {
                    self.skip();
                }
            }
            b'!' => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.tag();
            }
            b'|' | b'>' if self.block() => {
                self.remove_simple_key();
                self.simple_key_allowed = true;
                self.node()?;
                self.block_scalar()?;
            }
            b'\'' | b'"' => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.node()?;
                self.flow_scalar(c == b'\'')?;
            }
            _ if self.plain_scalar_starts() => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.node()?;
                self.plain_scalar()?;
            }
            // libyaml: "found character that cannot start any token".
            _ => return Err(Stop::End),
        }
        Ok(())
    }

    fn scan_to_next_token(&mut self) {
        loop {
            if self.column == 0 && self.is(0, 0xEF) && self.is(1, 0xBB) && self.is(2, 0xBF) {
                self.skip();
            }
            while self.is(0, b' ')
                || ((!self.block() || !self.simple_key_allowed) && self.is(0, b'\t'))
            {
                self.skip();
            }
            if self.is(0, b'#') {
                while !self.breakz(0) {
                    self.skip();
                }
            }
            if !self.brk(0) {
                return;
            }
            self.skip_line();
            if self.block() {
                self.simple_key_allowed = true;
            }
        }
    }

    /// `:`: a simple key still possible on this line becomes the key, and in
    /// the block context its column opens a mapping.
    fn value(&mut self) -> Result<(), Stop> {
        let key = *self.keys.last().expect("a key per level");
        // libyaml drops a key from an earlier line, or over 1024 bytes back.
        let stale = key.line < self.line || key.index + 1024 < self.pos;
        if key.possible && !stale {
            self.roll_indent(key.column)?;
            self.remove_simple_key();
            self.simple_key_allowed = false;
        } else {
            self.roll_indent(self.column)?;
            self.simple_key_allowed = self.block();
        }
        self.skip();
        Ok(())
    }

    fn plain_scalar_starts(&self) -> bool {
        let c = self.at(0);
        !(self.blankz(0) || b"-?:,[]{}#&*!|>'\"%@`".contains(&c))
            || (c == b'-' && !self.blank(1))
            || (self.block() && (c == b'?' || c == b':') && !self.blankz(1))
    }
}
