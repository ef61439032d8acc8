# Receives the results of renderers.html (web/bench/renderers.sh): one JSON line each.
import http.server, sys, json
class H(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length'])).decode()
        with open('results.jsonl', 'a') as f: f.write(body + '\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
