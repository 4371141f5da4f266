// argocd_read is the test suite's model of how Argo CD reads the stdout of a
// Config Management Plugin (see /work/shared/reference/argocd-cmp-contract.md §2.7).
// It is written for this project from the documented behaviour; no Argo CD,
// gitops-engine or apimachinery code is copied.
//
// Build (module mode, from tests/oracle; go.mod pins sigs.k8s.io/yaml v1.6.0 and
// go.yaml.in/yaml/v2 v2.4.4, the versions Argo CD v3.6.1 builds with; tests/oracle.py runs this
// with its GOCACHE under the confighash-e2e cache):
//
//	cd tests/oracle && GOWORK=off GOFLAGS=-mod=readonly go build -o argocd_read .
//
// Input: the plugin's whole stdout on stdin.
// Output: one JSON line per document that was not skipped, in stream order:
//
//	{"doc":N,"object":<canonical JSON>}   the object Argo CD would see
//	{"doc":N,"error":"<message>"}         this document would fail the render
//	{"error":"<message>"}                 the stream cannot be split; nothing follows
//
// N is the 0-based position of the document among those printed (documents
// that are empty, comment-only, or null are skipped and not counted). Real
// Argo CD fails the whole render on the first error; the oracle reports every
// document so a test can say which one is bad. Exit status is 0 unless stdin
// cannot be read.
//
// Modelled:
//   - Splitting like apimachinery's YAMLReader: the stream is read line by line
//     with bufio.Reader.ReadLine, so each line's "\n" or "\r\n" ending is
//     replaced by "\n" (a final line without a newline also gets one). A line
//     starting with "---" ends the current document; anything after "---" other
//     than spaces or a "#" comment is the error
//     "invalid Yaml document separator: <rest>". A separator line met while the
//     current document is still empty is kept as the document's first line
//     (go-yaml reads it as a document start marker), as the real reader does.
//   - Stage 1 (CMP sidecar): sigs.k8s.io/yaml.YAMLToJSON of each document;
//     "null" or empty results are skipped.
//   - Stage 2 (repo-server): YAMLToJSON again, on the stage-1 JSON text (go-yaml
//     v2, YAML 1.1 typing applies a second time).
//   - Unstructured decoding: the top-level value must be a mapping, and it must
//     have a non-empty string "kind"; otherwise the error line carries
//     "Object 'Kind' is missing in '<json>'" (the apimachinery wording).
//     A non-string kind is reported as its own error.
//
// Not modelled: the JSON-stream sniffing of a stream whose first non-space
// byte is "{" (such streams are read as YAML, which accepts JSON), expansion of
// kind: List objects, and int64/float64 narrowing (numbers are kept verbatim
// via json.Decoder.UseNumber).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

const separator = "---"

type docLine struct {
	Doc    int             `json:"doc"`
	Object json.RawMessage `json:"object,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type streamError struct {
	Error string `json:"error"`
}

// readLine returns the next line with its ending normalised to "\n", and
// io.EOF once the input is exhausted (possibly together with a last line).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line bytes.Buffer
	more := true
	var err error
	for more && err == nil {
		var part []byte
		part, more, err = r.ReadLine()
		line.Write(part)
	}
	line.WriteByte('\n')
	return line.Bytes(), err
}

// splitDocuments cuts the stream into YAML documents the way Argo CD's
// splitter does. Chunks are returned even if they hold only whitespace.
func splitDocuments(stream []byte) ([][]byte, error) {
	r := bufio.NewReader(bytes.NewReader(stream))
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if cur.Len() > 0 {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
		}
	}
	for {
		line, err := readLine(r)
		if err != nil && err != io.EOF {
			return nil, err
		}
		atEOF := err == io.EOF
		if bytes.HasPrefix(line, []byte(separator)) {
			rest := strings.TrimSpace(string(line[len(separator):]))
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", rest)
			}
			if cur.Len() > 0 {
				flush()
				if atEOF {
					return docs, nil
				}
				continue
			}
			if atEOF {
				return docs, nil
			}
		}
		if atEOF {
			flush()
			return docs, nil
		}
		cur.Write(line)
	}
}

// readDocument runs one document through both stages and the Unstructured
// checks. skip is true for documents Argo CD silently drops.
func readDocument(doc []byte) (object []byte, skip bool, err error) {
	j1, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, false, fmt.Errorf("stage 1 (cmp sidecar): %v", err)
	}
	j1 = bytes.TrimSpace(j1)
	if len(j1) == 0 || bytes.Equal(j1, []byte("null")) {
		return nil, true, nil
	}
	j2, err := yaml.YAMLToJSON(j1)
	if err != nil {
		return nil, false, fmt.Errorf("stage 2 (repo-server): %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j2))
	dec.UseNumber()
	var value interface{}
	if err := dec.Decode(&value); err != nil {
		return nil, false, fmt.Errorf("stage 2 (repo-server): decoding JSON: %v", err)
	}
	obj, ok := value.(map[string]interface{})
	if !ok {
		return nil, false, fmt.Errorf(
			"unstructured: top-level value is %T, not a mapping: %s", value, j2)
	}
	kind, present := obj["kind"]
	if !present || kind == nil || kind == "" {
		return nil, false, fmt.Errorf("Object 'Kind' is missing in '%s'", j2)
	}
	if _, isString := kind.(string); !isString {
		return nil, false, fmt.Errorf("unstructured: kind is %T, not a string: %s", kind, j2)
	}
	canonical, err := json.Marshal(obj)
	if err != nil {
		return nil, false, fmt.Errorf("re-marshalling: %v", err)
	}
	return canonical, false, nil
}

func main() {
	stream, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd_read: reading stdin: %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)

	docs, err := splitDocuments(stream)
	if err != nil {
		_ = enc.Encode(streamError{Error: err.Error()})
		return
	}
	n := 0
	for _, doc := range docs {
		object, skip, err := readDocument(doc)
		if skip {
			continue
		}
		line := docLine{Doc: n}
		if err != nil {
			line.Error = err.Error()
		} else {
			line.Object = object
		}
		_ = enc.Encode(line)
		n++
	}
}
