"""The dashboard's view models and figures; the routes are in `api.routes.dashboard`.

* `views` - plain functions from the database to what each page shows;
* `queries` - bounded, paged reads of Optuna's tables (no page loads a whole study);
* `figures` - Optuna's plots and the training curves as Plotly JSON;
* `filters` - Jinja filters for numbers and times.
"""
