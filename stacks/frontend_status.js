// CloudFront Function (cloudfront-js-2.0, viewer response) on the dashboard's default (S3)
// behaviour only. It gives the export's not-found page its 404 status, so the distribution needs
// no custom error responses: those apply to every behaviour, and would replace the API's own 403
// and 404 problem+json answers with an HTML page.
//
// The export's 404.html is stored with the object metadata `flightdeck-status: 404`
// (stacks/frontend.py); S3 returns it as the header below, and the router sends unknown pages to
// /404.html. S3 answers that object with 200, so this function runs (CloudFront runs no viewer
// response function on an origin status of 400 or more: a missing file keeps S3's own 404, since
// origin access control may list the bucket).

var MARKER = 'x-amz-meta-flightdeck-status';

function handler(event) {
    var response = event.response;
    var marker = response.headers[MARKER];
    if (marker) {
        delete response.headers[MARKER];
        if (marker.value === '404') {
            response.statusCode = 404;
            response.statusDescription = 'Not Found';
        }
    }
    return response;
}
