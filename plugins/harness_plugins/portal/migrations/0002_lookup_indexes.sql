-- Lookups the site build and the API make: a product's versions, a product's ratings.
CREATE INDEX scorecards_product_idx ON scorecards (vendor, product, received_at);
CREATE INDEX ratings_product_idx ON ratings (product);
CREATE INDEX ratings_imports_time_idx ON ratings_imports (imported_at);
