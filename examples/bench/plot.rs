//! A small PNG bar-chart renderer for the benchmark (no system fonts: the
//! text is drawn with an 8x8 bitmap font).

use font8x8::legacy::BASIC_LEGACY;

pub type Rgb = [u8; 3];

pub const OURS: Rgb = [31, 119, 180];
pub const C: Rgb = [255, 127, 14];
pub const GREY: Rgb = [127, 127, 127];
const BLACK: Rgb = [20, 20, 20];
const LIGHT: Rgb = [225, 225, 225];
const WHITE: Rgb = [255, 255, 255];
const RED: Rgb = [200, 30, 30];

/// One bar; `None` is drawn as "n/a".
pub struct Bar {
    pub value: Option<f64>,
    pub color: Rgb,
    /// Printed above the value, e.g. "LOSS".
    pub note: Option<String>,
}

pub struct Group {
    pub label: String,
    pub bars: Vec<Bar>,
}

pub struct Panel {
    pub title: String,
    pub groups: Vec<Group>,
    /// A dashed horizontal line (e.g. a goal), with its label.
    pub line: Option<(f64, String)>,
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        self.px[i..i + 3].copy_from_slice(&c);
    }

    fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    fn hline(&mut self, x0: i64, x1: i64, y: i64, c: Rgb, dashed: bool) {
        for x in x0..x1 {
            if !dashed || (x / 6) % 2 == 0 {
                self.set(x, y, c);
                if dashed {
                    self.set(x, y + 1, c);
                }
            }
        }
    }

    fn text(&mut self, x: i64, y: i64, scale: i64, c: Rgb, s: &str) {
        let mut cx = x;
        for ch in s.chars() {
            let glyph = BASIC_LEGACY[(ch as usize).min(127)];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.rect(cx + col * scale, y + row as i64 * scale, scale, scale, c);
                    }
                }
            }
            cx += 8 * scale;
        }
    }

    fn text_centered(&mut self, cx: i64, y: i64, scale: i64, c: Rgb, s: &str) {
        let w = s.chars().count() as i64 * 8 * scale;
        self.text(cx - w / 2, y, scale, c, s);
    }
}

/// Three significant digits, without exponent for everyday magnitudes.
pub fn fmt3(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

/// A "nice" axis maximum at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * e >= v {
            return m * e;
        }
    }
    10.0 * e
}

fn draw_panel(cv: &mut Canvas, x0: i64, y0: i64, pw: i64, ph: i64, p: &Panel) {
    cv.rect(x0 + 2, y0 + 2, pw - 4, ph - 4, [250, 250, 250]);
    cv.text(x0 + 14, y0 + 12, 2, BLACK, &p.title);
    let plot_x = x0 + 70;
    let plot_y = y0 + 50;
    let plot_w = pw - 90;
    let plot_h = ph - 110;
    let max_v = p
        .groups
        .iter()
        .flat_map(|g| g.bars.iter().filter_map(|b| b.value))
        .chain(p.line.as_ref().map(|l| l.0))
        .fold(0.0f64, f64::max);
    let top = nice_max(max_v * 1.12);
    // Grid and y labels.
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let y = plot_y + plot_h - (plot_h as f64 * i as f64 / 4.0) as i64;
        cv.hline(plot_x, plot_x + plot_w, y, LIGHT, false);
        let label = fmt3(v);
        cv.text(plot_x - 8 - label.len() as i64 * 8, y - 4, 1, BLACK, &label);
    }
    cv.hline(plot_x, plot_x + plot_w, plot_y + plot_h, BLACK, false);
    let ng = p.groups.len().max(1) as i64;
    let gw = plot_w / ng;
    for (gi, g) in p.groups.iter().enumerate() {
        let gx = plot_x + gi as i64 * gw;
        let nb = g.bars.len().max(1) as i64;
        let bw = ((gw - 24) / nb).min(90);
        let total = bw * nb;
        let bx0 = gx + (gw - total) / 2;
        for (bi, b) in g.bars.iter().enumerate() {
            let bx = bx0 + bi as i64 * bw;
            let cx = bx + bw / 2;
            match b.value {
                Some(v) if v.is_finite() => {
                    let h = ((v / top) * plot_h as f64).round().max(1.0) as i64;
                    let y = plot_y + plot_h - h;
                    cv.rect(bx + 3, y, bw - 6, h, b.color);
                    let label = fmt3(v);
                    let scale = if label.len() as i64 * 16 <= bw + 6 {
                        2
                    } else {
                        1
                    };
                    cv.text_centered(cx, y - 6 - 8 * scale, scale, BLACK, &label);
                    if let Some(n) = &b.note {
                        cv.text_centered(cx, y - 18 - 8 * scale, 1, RED, n);
                    }
                }
                _ => {
                    cv.text_centered(cx, plot_y + plot_h - 14, 1, GREY, "n/a");
                }
            }
        }
        // Large if it fits, else small and wrapped at spaces.
        if g.label.chars().count() as i64 * 16 <= gw - 4 {
            cv.text_centered(gx + gw / 2, plot_y + plot_h + 10, 2, BLACK, &g.label);
        } else {
            let width = ((gw - 4) / 8).max(1) as usize;
            let mut lines: Vec<String> = Vec::new();
            for word in g.label.split(' ') {
                match lines.last_mut() {
                    Some(l) if l.len() + 1 + word.len() <= width => {
                        l.push(' ');
                        l.push_str(word);
                    }
                    _ => lines.push(word.to_string()),
                }
            }
            for (i, line) in lines.iter().enumerate() {
                let y = plot_y + plot_h + 8 + i as i64 * 11;
                cv.text_centered(gx + gw / 2, y, 1, BLACK, line);
            }
        }
    }
    if let Some((v, label)) = &p.line {
        let y = plot_y + plot_h - ((v / top) * plot_h as f64) as i64;
        cv.hline(plot_x, plot_x + plot_w, y, RED, true);
        cv.text(
            plot_x + plot_w - label.len() as i64 * 8,
            y - 12,
            1,
            RED,
            label,
        );
    }
}

/// Renders `panels` in a grid of `cols` columns with a title and a legend.
pub fn render(
    path: &std::path::Path,
    title: &str,
    subtitle: &str,
    legend: &[(&str, Rgb)],
    panels: &[Panel],
    cols: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (pw, ph) = (820i64, 440i64);
    let header = 110i64;
    let rows = panels.len().div_ceil(cols) as i64;
    let w = pw * cols as i64;
    let h = header + ph * rows;
    let mut cv = Canvas::new(w as usize, h as usize);
    cv.rect(0, 0, w, h, WHITE);
    cv.text(16, 14, 3, BLACK, title);
    cv.text(16, 48, 1, GREY, subtitle);
    let mut lx = 16;
    for (name, color) in legend {
        cv.rect(lx, 72, 24, 20, *color);
        cv.text(lx + 32, 74, 2, BLACK, name);
        lx += 32 + name.len() as i64 * 16 + 40;
    }
    for (i, p) in panels.iter().enumerate() {
        let col = (i % cols) as i64;
        let row = (i / cols) as i64;
        draw_panel(&mut cv, col * pw, header + row * ph, pw, ph, p);
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&cv.px)?;
    writer.finish()?;
    Ok(())
}
