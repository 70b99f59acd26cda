"""Package data: the Jinja2 templates, CSS and JavaScript of the HTML report and the comparison site."""
