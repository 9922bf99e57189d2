"""One construct per concern of the regional stack: state, events, layers, functions, api."""
