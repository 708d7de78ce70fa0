// CloudFront Function (cloudfront-js-2.0, viewer request) on the dashboard's default (S3)
// behaviour only: the API behaviours (/v1/*, /healthz) never run it.
//
// The dashboard is a Next.js static export with `trailingSlash`: every page is a folder holding
// an index.html (`/runs/` is `runs/index.html`). This maps a page's URL to its object:
//   /                     -> /index.html
//   /runs/                -> /runs/index.html           (the query string is kept as it is)
//   /runs                 -> 301 to /runs/              (with the query string)
//   /_next/static/x.js    -> unchanged                  (anything whose last segment has a dot)
//   /no/such/page/        -> /404.html                  (the export's not-found page; the
//                                                        viewer-response function answers 404)
//
// ROUTES lists the export's page folders. stacks/frontend.py replaces the line below when it
// synthesizes with a built export; `null` (no export at synth time) treats every folder as a
// page, and a folder with no index.html gets S3's own 404.
var ROUTES = null;

var NOT_FOUND = '/404.html';

function isPage(folder) {
    return ROUTES === null || ROUTES.indexOf(folder) !== -1;
}

function queryString(querystring) {
    var parts = [];
    for (var key in querystring) {
        var entry = querystring[key];
        var values = entry.multiValue ? entry.multiValue : [entry];
        for (var i = 0; i < values.length; i++) {
            // CloudFront passes query string keys and values as the viewer sent them (encoded).
            parts.push(values[i].value === '' ? key : key + '=' + values[i].value);
        }
    }
    return parts.length ? '?' + parts.join('&') : '';
}

function handler(event) {
    var request = event.request;
    var uri = request.uri;

    if (uri.charAt(uri.length - 1) === '/') {
        request.uri = isPage(uri) ? uri + 'index.html' : NOT_FOUND;
        return request;
    }

    var last = uri.substring(uri.lastIndexOf('/') + 1);
    if (last.indexOf('.') !== -1) {
        return request;
    }

    if (isPage(uri + '/')) {
        return {
            statusCode: 301,
            statusDescription: 'Moved Permanently',
            headers: {
                location: { value: uri + '/' + queryString(request.querystring) },
                'cache-control': { value: 'max-age=3600' },
            },
        };
    }
    request.uri = NOT_FOUND;
    return request;
}
