package reports

import (
	"html/template"
	"io"
	"sync"
)

// The page is self-contained: inline CSS, system fonts, images from charts/
// beside it; nothing is fetched from anywhere else. It is parsed on first use,
// not by the package initialiser, which every program linking this package
// runs (the pooled containers' inits among them).
var htmlPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{"verdictClass": verdictClass}).Parse(htmlSource))
})

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gosandbox report</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px; padding: 1em 1.5em 3em; color: #1b1f23; line-height: 1.45; }
h1 { margin-bottom: 0.1em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #57606a; font-size: 0.9em; }
.quick { background: #ffebe9; border: 2px solid #cf222e; color: #82071e; font-weight: bold; padding: 0.8em 1em; margin: 1em 0; font-size: 1.1em; }
.summary { background: #f6f8fa; border: 1px solid #d0d7de; padding: 0.6em 1em 0.6em 2em; }
.summary li { margin: 0.2em 0; }
.problems { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.6em 1em 0.6em 2em; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.matrix td.pass, table.matrix td.fail, table.matrix td.skip, table.matrix td.pending, table.matrix td.none { text-align: center; white-space: nowrap; cursor: help; }
td.pass { background: #dafbe1; color: #116329; }
td.fail { background: #ffcecb; color: #82071e; font-weight: bold; }
td.skip { background: #fff8c5; color: #7d4e00; }
td.pending { background: #ddf4ff; color: #0a3069; }
td.none { color: #8c959f; }
td.prop { font-weight: bold; white-space: nowrap; }
td.title { color: #57606a; }
tr.totals td { font-weight: bold; background: #f6f8fa; }
.figures { display: flex; flex-wrap: wrap; gap: 1em 1.5em; }
figure { margin: 0.5em 0 1em; flex: 1 1 520px; max-width: 672px; }
figure img { width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: 0.9em; }
details { margin: 0.4em 0; }
details summary { cursor: pointer; font-weight: 600; }
details li { margin: 0.3em 0; }
pre.reason { white-space: pre-wrap; background: #f6f8fa; padding: 0.3em 0.6em; margin: 0.2em 0 0; font-size: 0.85em; max-height: 14em; overflow: auto; }
.verdict-holds { color: #116329; font-weight: bold; }
.verdict-does-not-hold { color: #82071e; font-weight: bold; }
.note { color: #57606a; font-size: 0.9em; }
</style>
</head>
<body>
<h1>gosandbox report</h1>
<p class="meta">Generated {{.Generated}} from <code>{{.InDir}}</code>.</p>
{{if .QuickBanner}}<div class="quick" id="quick">{{.QuickBanner}}</div>{{end}}

{{with .SideBySide}}
<h2 id="side-by-side">Sandboxes side by side</h2>
<p>{{.Intro}}</p>
{{with .Chart}}<div class="figures"><figure id="fig-{{.ID}}">
<img src="{{.PNG}}" alt="{{.Title}}" width="672" height="384">
<figcaption>{{.Caption}} <a href="{{.SVG}}">SVG</a></figcaption>
</figure></div>{{end}}
{{with .Memory}}{{$num := .Num}}
<h3 id="side-by-side-memory">Memory per backend</h3>
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if ge $i $num}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
{{end}}
{{if .Backends}}
<p class="note">Hover a failed or skipped cell for its reason; the Conformance section below lists every spec with its full message.</p>
<table class="matrix side">
<thead><tr><th>property</th><th>what must hold</th>{{range .Backends}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr><td class="prop">{{.Property}}</td><td class="title">{{.Title}}</td>{{range .Cells}}<td class="{{.Class}}"{{if .Tooltip}} title="{{.Tooltip}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{else}}<p>No conformance results for this host.</p>{{end}}
{{if .Missing}}<p class="note">Not shown: {{range $i, $m := .Missing}}{{if $i}}; {{end}}{{$m}}{{end}}.</p>{{end}}
{{end}}

<h2 id="summary">Summary</h2>
<ul class="summary">
{{range .Summary}}<li>{{.}}</li>
{{end}}</ul>

{{if .Problems}}
<h2 id="missing">Missing inputs</h2>
<p>The report was written from what could be read; these inputs were missing, partial or unreadable:</p>
<ul class="problems">
{{range .Problems}}<li><code>{{.Input}}</code>: {{.What}}</li>
{{end}}</ul>
{{end}}


{{range .Sections}}
<h2 id="{{.ID}}">{{.Title}}</h2>
<p>{{.Intro}}</p>
{{if eq .ID "kernels"}}{{with $.Kernel}}
<table>
<tr><th>kernel-cgroup</th><th>backend</th><th>program</th><th>p50</th><th>ratio to floor</th></tr>
{{range .Rows}}<tr><td>{{.Target}}{{if .Quick}} (quick){{end}}</td><td>{{.Backend}}</td><td>{{.Program}}</td><td class="num">{{.P50}}</td><td class="num">{{.Ratio}}</td></tr>
{{end}}</table>
{{end}}{{end}}
{{with .Table}}{{$num := .Num}}
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if ge $i $num}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
{{end}}
<div class="figures">
{{range .Charts}}<figure id="fig-{{.ID}}">
<img src="{{.PNG}}" alt="{{.Title}}" width="672" height="384">
<figcaption>{{.Caption}} <a href="{{.SVG}}">SVG</a></figcaption>
</figure>
{{end}}</div>
{{end}}

<h2 id="conformance">Conformance</h2>
{{with .Matrix}}{{if .Columns}}
<p class="note">A property passes when all its specs pass; it fails when any fails. Hover a cell for its specs and reasons; the lists below the table give every failure and skip with its reason.{{if $.MatrixNote}} Note: {{$.MatrixNote}}.{{end}}</p>
<table class="matrix">
<thead>
<tr><th rowspan="2">property</th><th rowspan="2">area</th><th rowspan="2">what must hold</th>{{range .Targets}}<th colspan="{{.Span}}">{{.Name}}</th>{{end}}</tr>
<tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
</thead>
<tbody>
{{range .Rows}}<tr><td class="prop">{{.Property}}</td><td>{{.Area}}</td><td class="title">{{.Title}}</td>{{range .Cells}}<td class="{{.Class}}" title="{{.Tooltip}}">{{.Text}}</td>{{end}}</tr>
{{end}}<tr class="totals"><td colspan="3">specs</td>{{range .Totals}}<td>{{.}}</td>{{end}}</tr>
</tbody>
</table>
{{range .Details}}<details{{if .Open}} open{{end}}><summary>{{.Summary}}</summary>
<ul>
{{range .Items}}<li><b>{{.Property}}</b> {{.State}}: {{.Text}}{{if .Reason}}<pre class="reason">{{.Reason}}</pre>{{end}}</li>
{{end}}</ul>
</details>
{{end}}
{{else}}<p>No conformance results.</p>{{end}}{{end}}

<h2 id="claims">The seed's claims</h2>
{{if .Claims}}<table>
<tr><th>claim</th><th>seed</th><th>measured</th><th>verdict</th><th>rule</th></tr>
{{range .Claims}}<tr><td>{{.Claim}}</td><td>{{.Seed}}</td><td>{{if .Measured}}{{.Measured}}{{else}}—{{end}}</td><td class="verdict-{{verdictClass .Verdict}}">{{.Verdict}}</td><td class="note">{{.Rule}}</td></tr>
{{end}}</table>
{{if $.Quick}}<p class="quick">Measured on a quick run: not to be quoted.</p>{{end}}
{{else}}<p>No claims: the bench results are missing or recorded none.</p>{{end}}

<h2 id="figures">All figures</h2>
{{if .Scenarios}}{{range .Scenarios}}
<h3 id="scenario-{{.Name}}">{{.Name}}</h3>
<p>{{.Description}}{{if .Noisy}} <b>Noisy:</b> {{.Noisy}}{{end}}</p>
<table>
<tr>{{range $.ScenarioHeader}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if ge $i 4}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{else}}<p>No bench results.</p>{{end}}
{{if .Notes}}<p><b>Caveats recorded by the bench:</b></p><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2 id="environment">Environment</h2>
{{if .Env}}{{range .Env}}
<h3>{{.Title}}</h3>
{{if .Quick}}<p class="quick">Quick run: not to be quoted.</p>{{end}}
<table>
{{range .Fields}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
{{end}}{{else}}<p>Unknown: no bench results.</p>{{end}}
</body>
</html>
`

// verdictClass turns "does not hold" into a CSS class name.
func verdictClass(v string) string { return slug(v) }

// htmlView adds what only the HTML template needs.
type htmlView struct {
	*view
	ScenarioHeader []string
}

func writeHTML(w io.Writer, v *view) error {
	return htmlPage().Execute(w, htmlView{view: v, ScenarioHeader: scenarioHeader})
}
