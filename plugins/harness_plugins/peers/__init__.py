"""peers family: the portal's peer ratings, shown beside the objective scores, never inside them."""
