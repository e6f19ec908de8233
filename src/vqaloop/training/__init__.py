"""vqaloop.training"""
