//! Where libyaml's scalars and tags end: quoted, plain and block scalars
//! (`yaml_parser_scan_flow_scalar`, `_plain_scalar`, `_block_scalar`).
use super::{Stop, Yaml};

impl Yaml<'_> {
    pub(super) fn tag(&mut self) {
        self.skip();
        if self.is(0, b'<') {
            self.skip();
            while self.alpha(0) || b";/?:@&=+$.%!~*'(),[]".contains(&self.at(0)) {
                self.skip();
            }
            if self.is(0, b'>') {
                self.skip();
            }
        } else {
            while self.alpha(0) || b";/?:@&=+$.%!~*'()".contains(&self.at(0)) {
                self.skip();
            }
        }
    }

    pub(super) fn flow_scalar(&mut self, single: bool) -> Result<(), Stop> {
        let quote = if single { b'\'' } else { b'"' };
        self.skip();
        loop {
            if self.document_marker() || self.z(0) {
                return Err(Stop::End);
            }
            while !self.blankz(0) {
                if single && self.is(0, b'\'') && self.is(1, b'\'') {
                    self.skip();
                    self.skip();
                } else if self.is(0, quote) {
                    break;
                } else if !single && self.is(0, b'\\') && self.brk(1) {
                    self.skip();
                    self.skip_line();
                    break;
                } else if !single && self.is(0, b'\\') {
                    let digits = match self.at(1) {
                        b'0' | b'a' | b'b' | b't' | b'\t' | b'n' | b'v' | b'f' | b'r' | b'e'
                        | b' ' | b'"' | b'/' | b'\\' | b'N' | b'_' | b'L' | b'P' => 0,
                        b'x' => 2,
                        b'u' => 4,
                        b'U' => 8,
                        _ => return Err(Stop::End),
                    };
                    self.skip();
                    self.skip();
                    let mut code = 0u32;
                    for k in 0..digits {
                        match (self.at(k) as char).to_digit(16) {
                            Some(d) => code = (code << 4) | d,
                            None => return Err(Stop::End),
                        }
                    }
                    if (0xD800..=0xDFFF).contains(&code) || code > 0x10FFFF {
                        return Err(Stop::End);
                    }
                    for _ in 0..digits {
                        self.skip();
                    }
                } else {
                    self.skip();
                }
            }
            if self.is(0, quote) {
                self.skip();
                return Ok(());
            }
            while self.blank(0) || self.brk(0) {
                if self.blank(0) {
                    self.skip();
                } else {
                    self.skip_line();
                }
            }
        }
    }

    pub(super) fn plain_scalar(&mut self) -> Result<(), Stop> {
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            if self.document_marker() || self.is(0, b'#') {
                break;
            }
            while !self.blankz(0) {
                let flow_indicator = |b: u8| b",[]{}".contains(&b);
                if !self.block()
                    && self.is(0, b':')
                    && (self.is(1, b'?') || flow_indicator(self.at(1)))
                {
                    return Err(Stop::End);
                }
                if (self.is(0, b':') && self.blankz(1))
                    || (!self.block() && flow_indicator(self.at(0)))
                {
                    break;
                }
                leading_blanks = false;
                self.skip();
            }
            if !(self.blank(0) || self.brk(0)) {
                break;
            }
            while self.blank(0) || self.brk(0) {
                if self.blank(0) {
                    if leading_blanks && (self.column as isize) < indent && self.is(0, b'\t') {
                        return Err(Stop::End);
                    }
                    self.skip();
                } else {
                    self.skip_line();
                    leading_blanks = true;
                }
            }
            if self.block() && (self.column as isize) < indent {
                break;
            }
        }
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(())
    }

    pub(super) fn block_scalar(&mut self) -> Result<(), Stop> {
        self.skip();
        let mut increment = 0isize;
        let digit = |b: u8| b.is_ascii_digit().then(|| isize::from(b - b'0'));
        if self.is(0, b'+') || self.is(0, b'-') {
            self.skip();
            if let Some(d) = digit(self.at(0)) {
                if d == 0 {
                    return Err(Stop::End);
                }
                increment = d;
                self.skip();
            }
        } else if let Some(d) = digit(self.at(0)) {
            if d == 0 {
                return Err(Stop::End);
            }
            increment = d;
            self.skip();
            if self.is(0, b'+') || self.is(0, b'-') {
                self.skip();
            }
        }
        while self.blank(0) {
            self.skip();
        }
        if self.is(0, b'#') {
            while !self.breakz(0) {
                self.skip();
            }
        }
        if !self.breakz(0) {
            return Err(Stop::End);
        }
        self.skip_line();
        let mut indent = match increment {
            0 => 0,
            d if self.indent >= 0 => self.indent + d,
            d => d,
        };
        self.block_breaks(&mut indent)?;
        while self.column as isize == indent && !self.z(0) {
            while !self.breakz(0) {
                self.skip();
            }
            self.skip_line();
            self.block_breaks(&mut indent)?;
        }
        Ok(())
    }

    /// Empty lines before a block scalar's content, or between its lines;
    /// fixes the indentation when the header gave none.
    fn block_breaks(&mut self, indent: &mut isize) -> Result<(), Stop> {
        let mut max_indent = 0isize;
        loop {
            while (*indent == 0 || (self.column as isize) < *indent) && self.is(0, b' ') {
                self.skip();
            }
            max_indent = max_indent.max(self.column as isize);
            if (*indent == 0 || (self.column as isize) < *indent) && self.is(0, b'\t') {
                return Err(Stop::End);
            }
            if !self.brk(0) {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = max_indent.max(self.indent + 1).max(1);
        }
        Ok(())
    }
}
