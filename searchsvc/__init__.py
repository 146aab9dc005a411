"""tropesearch.searchsvc: the query engine, the Flask app and the search page."""
